"""The printed table, the targets, the JSON file and the docs section, from the median figures."""

from __future__ import annotations

import json
import os
import platform
from collections.abc import Sequence
from dataclasses import asdict, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from backend.bench.everyday import Everyday
from backend.bench.imports import own_and_others, top_packages
from backend.bench.measuring import SEGMENTS, Figures
from backend.bench.running import RunSpec
from backend.bench.strategies import HARNESS
from backend.bench.targets import Target

Summaries = dict[RunSpec, Figures]
STRATEGY_LABELS = {
    HARNESS: "savepoint (ours)",
    "database-per-test": "database per test",
    "truncate": "truncate (DELETE on SQLite)",
}


def strategy_label(spec: RunSpec) -> str:
    if spec.strategy == "truncate":
        return "DELETE (no TRUNCATE)" if spec.engine == "sqlite" else "truncate"
    return STRATEGY_LABELS[spec.strategy]


DOCS_START = "<!-- bench-chart -->"
DOCS_END = "<!-- /bench-chart -->"


def format_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Plain-text columns: text left-aligned, figures right-aligned."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=True)]

    def line(cells: Sequence[str]) -> str:
        out = []
        for cell, width in zip(cells, widths, strict=True):
            numeric = cell[:1].isdigit() or cell[:1] in "--+"
            out.append(cell.rjust(width) if numeric else cell.ljust(width))
        return "  ".join(out).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths]), *map(line, rows)])


def _num(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def reference_of(spec: RunSpec) -> RunSpec:
    """The harness's run that a reference strategy's run is compared with."""
    return RunSpec(spec.engine, spec.workers, spec.cold)


def _counts(figures: Figures) -> str:
    order = ("passed", "failed", "skipped")
    return ", ".join(f"{figures.counts[k]:.0f} {k}" for k in order if figures.counts.get(k))


MAIN_HEADERS = (
    "engine", "run", "cache", "isolation", "server s", "schema s", "clone s", "harness s",
    "process s", "iso ms", "ref÷ours", "suite s", "ref÷ours", "tests",
)  # fmt: skip


def main_rows(summaries: Summaries) -> list[list[str]]:
    rows = []
    for spec, figures in summaries.items():
        mine = summaries.get(reference_of(spec)) if spec.strategy != HARNESS else None
        iso_ratio = suite_ratio = ""
        if mine is not None and mine.isolation_ms and figures.isolation_ms:
            iso_ratio = f"{figures.isolation_ms / mine.isolation_ms:.1f}x"
            suite_ratio = f"{figures.wall / mine.wall:.2f}x"
        rows.append(
            [
                spec.engine, spec.mode, spec.cache, strategy_label(spec),
                _num(figures.server_s), _num(figures.schema_s), _num(figures.clone_s),
                _num(figures.harness_s), _num(figures.to_first_test), _num(figures.isolation_ms),
                iso_ratio, _num(figures.wall, 1), suite_ratio, _counts(figures),
            ]
        )  # fmt: skip
    return rows


def segments_table(summaries: Summaries) -> str:
    present = {name for figures in summaries.values() for name in figures.segments}
    names = [name for name in SEGMENTS if name in present]
    rows = [
        [spec.engine, spec.mode, spec.cache]
        + [_num(figures.segments.get(name)) for name in names]
        + [_num(figures.to_first_test)]
        for spec, figures in summaries.items()
        if spec.strategy == HARNESS
    ]
    return format_table(["engine", "run", "cache", *names, "total"], rows)


def imports_block(per_package: dict[str, float]) -> str:
    mine, others = own_and_others(per_package, ("backend",))
    rows = [[name, f"{seconds:.3f}"] for name, seconds in top_packages(per_package, 12)]
    total = f"{mine + others:.2f}"
    return (
        f"{format_table(['package', 'import s'], rows)}\n"
        f"total {total} s: the project's own package {mine:.2f} s, everything else {others:.2f} s"
    )


def targets_block(targets: Sequence[Target]) -> str:
    lines = []
    for target in targets:
        verdict = {True: "met    ", False: "MISSED ", None: "n/a    "}[target.met]
        lines.append(f"{verdict}{target.name}: {target.measured}")
        lines += [f"         where the time goes: {line}" for line in target.where]
    return "\n".join(lines)


def left_out_block(excluded: Sequence[tuple[str, str]]) -> str:
    by_reason: dict[str, list[str]] = {}
    for path, why in excluded:
        by_reason.setdefault(why, []).append(Path(path).name)
    lines = [f"  {why}: {', '.join(names)}" for why, names in by_reason.items()]
    return "\n".join(
        [
            "Left out of the timed suite (the harness's robustness, or someone's scratch work, "
            "not the cost of isolation):"
            if lines
            else "Nothing left out of the timed suite.",
            *lines,
        ]
    )


def report_text(
    summaries: Summaries,
    targets: Sequence[Target],
    imports: dict[str, float],
    excluded: Sequence[tuple[str, str]],
    repeat: int,
) -> str:
    return "\n\n".join(
        [
            f"Speed or parity: medians of {repeat} run(s) each.\n" + left_out_block(excluded),
            format_table(MAIN_HEADERS, main_rows(summaries)),
            "server/schema s: the pytest header's start-up phases; clone s: the first worker's "
            "database from the template; harness s: their sum (what the first-test targets "
            "judge); process s: launch to the first test's call, imports included; iso ms: "
            "median set-up + teardown of the isolation fixtures per test using db_session; "
            "ref÷ours: the reference strategy's figure over ours (same engine, serial, warm).",
            "Where the process's time to the first test goes (s): imports = the interpreter, "
            "pytest and the harness plugin; plugins = entry-point plugins and conftest; configure "
            "= every pytest_configure (the harness provisions there); xdist workers = workers "
            "start and import again; 1st test set-up includes the clone.\n"
            + segments_table(summaries),
            "Imports before the first test (python -X importtime -m pytest --co, self time):\n"
            + imports_block(imports),
            "Targets:\n" + targets_block(targets),
        ]
    )


def _figures_json(figures: Figures) -> dict[str, Any]:
    data = asdict(figures)
    data["spec"]["key"] = figures.spec.key
    data.update(server_s=figures.server_s, schema_s=figures.schema_s, harness_s=figures.harness_s)
    return data


def write_json(
    path: Path,
    *,
    summaries: Summaries,
    runs: Sequence[Figures],
    targets: Sequence[Target],
    imports: dict[str, float],
    context: dict[str, Any],
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "generated": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        **context,
        "summaries": [_figures_json(figures) for figures in summaries.values()],
        "runs": [_figures_json(figures) for figures in runs],
        "targets": [asdict(target) for target in targets],
        "imports_s": imports,
    }
    path.write_text(json.dumps(document, indent=2) + "\n")


def read_json(path: Path) -> tuple[list[Figures], dict[str, float], dict[str, Any]]:
    """The runs, import costs and context of a JSON file ``write_json`` wrote."""
    document = json.loads(path.read_text())
    names = {f.name for f in fields(Figures)} - {"spec"}
    runs = [
        Figures(
            spec=RunSpec(**{k: v for k, v in run["spec"].items() if k != "key"}),
            **{k: v for k, v in run.items() if k in names},
        )
        for run in document["runs"]
    ]
    keys = ("options", "load_average", "suite", "date", "everyday")
    context = {k: document[k] for k in keys if k in document}
    return runs, document["imports_s"], context


DOCS_INTRO = """\
## Measured: what each choice costs

`nox -s bench` (or `uv run --group bench python -m backend.bench`) runs the suite as subprocesses on
each engine, serially and with `-n 2`, cold (`--rebuild-schema`) and warm, and under two reference
isolation strategies, then prints this table and whether each target is met. Harness start-up is the
pytest header's phases plus the clone of the worker's database; "first test" is the whole process
from launch, Python imports included; isolation is the median set-up plus teardown of the database
fixtures per test. The harness tests that launch inner pytest sessions are left out. {note}
"""


EVERYDAY_HEADERS = ("figure", "sqlite", "postgres", "sqlite ÷ postgres")


def everyday_rows(everyday: Everyday) -> list[list[str]]:
    """One row per figure, SQLite and PostgreSQL side by side with their ratio."""

    def row(label: str, values: dict[str, float], digits: int) -> list[str]:
        lite, pg = values.get("sqlite"), values.get("postgres")
        ratio = f"{lite / pg:.2f}x" if lite and pg else "-"
        return [label, _num(lite, digits), _num(pg, digits), ratio]

    return [
        row("one test, whole process, warm (s)", everyday.one_test_s, 2),
        row("typical API test: a user, a context, one GET (ms)", everyday.typical_ms, 2),
        row("whole suite, everything, serial (s)", everyday.suite_s, 1),
        row("whole suite, everything, -n 2 (s)", everyday.suite_n2_s, 1),
    ]


def everyday_block(everyday: Everyday) -> str:
    return "What a developer waits for (whole processes; medians):\n" + format_table(
        EVERYDAY_HEADERS, everyday_rows(everyday)
    )


def _markdown_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    return "\n".join(
        ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
        + ["| " + " | ".join(row) + " |" for row in rows]
    )


def docs_markdown(
    summaries: Summaries,
    targets: Sequence[Target],
    chart: str,
    note: str = "",
    everyday: Everyday | None = None,
) -> str:
    headers = ["engine", "run", "cache", "isolation", "harness start-up s", "first test s",
               "isolation ms/test", "suite s"]  # fmt: skip
    rows = [
        [spec.engine, f"`{spec.mode}`" if spec.workers else spec.mode, spec.cache,
         strategy_label(spec), _num(f.harness_s), _num(f.to_first_test),
         _num(f.isolation_ms), _num(f.wall, 1)]
        for spec, f in summaries.items()
    ]  # fmt: skip
    table = _markdown_table(headers, rows)
    if everyday is not None:
        table = (
            "What a developer waits for: one test as a whole process, a typical API test (a "
            "user, a context, one authenticated GET; set-up + call + teardown, median of 100), and the whole "
            "suite as the README runs it, harness self-tests and fuzzer included:\n\n"
            + _markdown_table(EVERYDAY_HEADERS, everyday_rows(everyday))
            + "\n\nThe suite by engine and isolation strategy (harness self-tests left out):\n\n"
            + table
        )
    verdicts = "\n".join(
        f"- {({True: 'met', False: '**missed**', None: 'not measured'})[t.met]}: {t.name}: "
        f"{t.measured}" + "".join(f"\n    - where the time goes: {line}" for line in t.where)
        for t in targets
    )
    intro = DOCS_INTRO.format(note=note).rstrip()
    return f"{intro}\n\n![{chart_alt()}]({chart})\n\n{table}\n\nTargets:\n\n{verdicts}\n"


def chart_alt() -> str:
    return "Per-test isolation overhead and whole-suite wall time, per engine and strategy"


def update_docs_page(page: Path, section: str) -> None:
    """Replace what lies between the bench-chart markers (or follows the first marker alone)."""
    text = page.read_text(encoding="utf-8")
    before, marker, after = text.partition(DOCS_START)
    if not marker:
        raise ValueError(f"{page} has no {DOCS_START} marker")
    _old, end, rest = after.partition(DOCS_END)
    rest = rest if end else after
    page.write_text(f"{before}{DOCS_START}\n\n{section}\n{DOCS_END}{rest}", encoding="utf-8")
