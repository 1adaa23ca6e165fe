"""``python -m backend.bench``: time the suite on each engine and strategy, print, save, chart."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

from backend.bench.imports import measure_imports
from backend.bench.measuring import Figures, figures_of, summarise
from backend.bench.reporting import docs_markdown, report_text, update_docs_page, write_json
from backend.bench.running import BenchError, RunSpec, run_once
from backend.bench.strategies import REFERENCES
from backend.bench.suite import select_suite
from backend.bench.targets import XDIST_WORKERS, evaluate
from backend.config import PROJECT_ROOT

ENGINES = ("sqlite", "postgres")
DOCS_PAGE = PROJECT_ROOT / "docs" / "speed-or-parity.md"
DOCS_CHART = PROJECT_ROOT / "docs" / "img" / "speed-or-parity.svg"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m backend.bench", description=__doc__)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each configuration (3)")
    parser.add_argument(
        "--quick", action="store_true", help="a smoke run: 1 repetition, serial runs only"
    )
    parser.add_argument(
        "--engines", default=",".join(ENGINES), help="comma-separated: sqlite,postgres (both)"
    )
    parser.add_argument("--output", type=Path, default=Path("bench-results/bench.json"))
    parser.add_argument("--chart", type=Path, default=Path("bench-results/bench.svg"))
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


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    output, chart = args.output.resolve(), args.chart.resolve()
    workdir = output.parent
    load_before = os.getloadavg()
    try:
        runs = run_all(plan(args.engines, args.quick), args.repeat, workdir)
    except BenchError as error:
        print(f"bench: {error}", file=sys.stderr)
        return 1
    suite = select_suite()
    imports = measure_imports(suite, workdir / "cache", args.repeat)
    summaries = summarise(runs)
    targets = evaluate(summaries, args.engines)
    print(report_text(summaries, targets, imports, suite.excluded, args.repeat))
    write_json(
        output,
        summaries=summaries,
        runs=runs,
        targets=targets,
        imports=imports,
        context={
            "options": {"repeat": args.repeat, "quick": args.quick, "engines": args.engines},
            "load_average": {"before": load_before, "after": os.getloadavg()},
            "suite": {
                "excluded": [{"path": p, "why": w} for p, w in suite.excluded],
            },
        },
    )
    section = docs_markdown(summaries, targets, "img/speed-or-parity.svg")
    output.with_suffix(".md").write_text(section)
    print(f"\nwrote {output}, {output.with_suffix('.md')}", end="")
    return _chart(summaries, args, chart, section)


def _chart(
    summaries: dict[RunSpec, Figures], args: argparse.Namespace, chart: Path, section: str
) -> int:
    try:
        from backend.bench.chart import write_chart

        write_chart(summaries, args.engines, chart)
    except ImportError as error:
        print(f"\nno chart: {error}; matplotlib is in the bench group: nox -s bench, or "
              "uv run --group bench python -m backend.bench", file=sys.stderr)  # fmt: skip
        return 1
    print(f", {chart}")
    if args.docs:
        DOCS_CHART.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(chart, DOCS_CHART)
        update_docs_page(DOCS_PAGE, section)
        print(f"updated {DOCS_CHART} and {DOCS_PAGE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
