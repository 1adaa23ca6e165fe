"""``python -m backend.bench``: time the suite on each engine and strategy, print, save, chart."""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from backend.bench.everyday import Everyday, measure_everyday
from backend.bench.imports import measure_imports
from backend.bench.measuring import Figures, figures_of, summarise
from backend.bench.reporting import (
    docs_markdown,
    everyday_block,
    read_json,
    report_text,
    update_docs_page,
    write_json,
)
from backend.bench.running import BenchError, RunSpec, run_once
from backend.bench.strategies import REFERENCES
from backend.bench.suite import select_suite
from backend.bench.targets import XDIST_WORKERS, evaluate
from backend.config import PROJECT_ROOT

ENGINES = ("sqlite", "postgres")
DOCS_PAGE = PROJECT_ROOT / "docs" / "speed-or-parity.md"
# Above this, other work competed with the runs (2 cores: a load of 1.5).
BUSY_LOAD_PER_CPU = 0.75
DOCS_CHART = PROJECT_ROOT / "docs" / "img" / "speed-or-parity.svg"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m backend.bench",
        description="Time the test suite on SQLite and PostgreSQL, serial and -n 2, cold and warm, "
        "and under two reference isolation strategies; print one table and the targets, write "
        "the figures as JSON and a chart.",
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs of each configuration (3)")
    parser.add_argument(
        "--quick", action="store_true", help="a smoke run: 1 repetition, serial runs only"
    )
    parser.add_argument(
        "--engines", default=",".join(ENGINES), help="comma-separated: sqlite,postgres (both)"
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=Path("bench-results/bench.json"),
        help="the JSON file (bench-results/bench.json); logs, probes and the bench's own schema "
        "cache go next to it, and the docs section as .md",
    )
    parser.add_argument(
        "--chart",
        type=Path,
        default=Path("bench-results/bench.svg"),
        help="the chart, SVG or PNG by suffix (bench-results/bench.svg)",
    )
    parser.add_argument(
        "--skip-everyday",
        action="store_true",
        help="leave out the everyday figures (one test as a process, a typical API test, the "
        "whole suite as the README runs it, per engine)",
    )
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="run nothing: print, chart and (with --docs) publish the figures already in --output",
    )
    parser.add_argument(
        "--docs",
        action="store_true",
        help=f"also copy the chart to {DOCS_CHART.relative_to(PROJECT_ROOT)} and put the table in "
        f"{DOCS_PAGE.relative_to(PROJECT_ROOT)}",
    )
    args = parser.parse_args(argv)
    args.engines = tuple(e.strip() for e in args.engines.split(",") if e.strip())
    unknown = set(args.engines) - set(ENGINES)
    if unknown or not args.engines:
        parser.error(f"--engines takes {' and/or '.join(ENGINES)}, not {args.engines}")
    if args.quick:
        args.repeat = 1
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    return args


def plan(engines: Sequence[str], quick: bool) -> list[RunSpec]:
    """Each repetition runs these in order; a cold run comes before the warm run it warms."""
    specs = []
    for engine in engines:
        for workers in (0,) if quick else (0, XDIST_WORKERS):
            specs += [RunSpec(engine, workers, cold=True), RunSpec(engine, workers, cold=False)]
        specs += [RunSpec(engine, strategy=strategy) for strategy in REFERENCES]
    return specs


def run_all(specs: list[RunSpec], repeat: int, workdir: Path) -> list[Figures]:
    # Repetitions interleave the configurations, so that a noisy minute spreads over all of them.
    runs = []
    total = len(specs) * repeat
    for repetition in range(1, repeat + 1):
        for spec in specs:
            figures = figures_of(run_once(spec, repetition, select_suite(), workdir))
            runs.append(figures)
            counts = ", ".join(f"{n:.0f} {k}" for k, n in figures.counts.items())
            print(
                f"[{len(runs)}/{total}] {spec.key} #{repetition}: {figures.wall:.1f} s ({counts})",
                file=sys.stderr,
                flush=True,
            )
    return runs


def measure(
    args: argparse.Namespace, workdir: Path
) -> tuple[list[Figures], dict[str, float], dict[str, Any]]:
    """Every run of the plan, then the import costs; with what the report needs to say about them."""
    load_before = os.getloadavg()
    runs = run_all(plan(args.engines, args.quick), args.repeat, workdir)
    suite = select_suite()
    imports = measure_imports(suite, workdir / "cache", args.repeat)
    everyday = None
    if not args.skip_everyday:
        everyday = measure_everyday(args.engines, args.repeat, workdir, args.quick)
    context = {
        "everyday": dataclasses.asdict(everyday) if everyday else None,
        "options": {"repeat": args.repeat, "quick": args.quick, "engines": args.engines},
        "load_average": {"before": load_before, "after": os.getloadavg()},
        "date": datetime.now(UTC).date().isoformat(),
        "suite": {"excluded": [{"path": p, "why": w} for p, w in suite.excluded]},
    }
    return runs, imports, context


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    output, chart = args.output.resolve(), args.chart.resolve()
    if args.report_only:
        runs, imports, context = read_json(output)
    else:
        try:
            runs, imports, context = measure(args, output.parent)
        except BenchError as error:
            print(f"bench: {error}", file=sys.stderr)
            return 1
    summaries = summarise(runs)
    engines = tuple(context["options"]["engines"])
    everyday = Everyday(**context["everyday"]) if context.get("everyday") else None
    targets = evaluate(summaries, engines, everyday)
    load = context["load_average"]
    print(
        f"{os.cpu_count()} CPUs; 1-minute load average {load['before'][0]:.2f} before the runs, "
        f"{load['after'][0]:.2f} after (other work on the machine shows up as noise)\n"
    )
    excluded = [(item["path"], item["why"]) for item in context["suite"]["excluded"]]
    print(report_text(summaries, targets, imports, excluded, context["options"]["repeat"]))
    if everyday is not None:
        print("\n" + everyday_block(everyday))
    if not args.report_only:
        write_json(output, summaries=summaries, runs=runs, targets=targets, imports=imports,
                   context=context)  # fmt: skip
    busy = max(load["before"][0], load["after"][0]) > (os.cpu_count() or 1) * BUSY_LOAD_PER_CPU
    note = (
        f"Medians of {context['options']['repeat']} run(s) each, measured on {context.get('date', '?')} "
        f"on {os.cpu_count()} CPU cores (1-minute load average {load['before'][0]:.1f} before, "
        f"{load['after'][0]:.1f} after{': other work was running' if busy else ''})."
    )
    section = docs_markdown(summaries, targets, "img/speed-or-parity.svg", note, everyday)
    output.with_suffix(".md").write_text(section)
    print(f"\nwrote {output}, {output.with_suffix('.md')}", end="")
    return _chart(summaries, engines, args.docs, chart, section)


def _chart(
    summaries: dict[RunSpec, Figures], engines: Sequence[str], docs: bool, chart: Path, section: str
) -> int:
    try:
        from backend.bench.chart import write_chart

        write_chart(summaries, engines, chart)
    except ImportError as error:
        print(f"\nno chart: {error}; matplotlib is in the bench group: nox -s bench, or "
              "uv run --group bench python -m backend.bench", file=sys.stderr)  # fmt: skip
        return 1
    print(f", {chart}")
    if docs:
        DOCS_CHART.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(chart, DOCS_CHART)
        update_docs_page(DOCS_PAGE, section)
        print(f"updated {DOCS_CHART} and {DOCS_PAGE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
