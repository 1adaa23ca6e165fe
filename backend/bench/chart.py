"""The chart the docs page shows: isolation per test and suite wall time, per engine and strategy."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from backend.bench.measuring import Figures
from backend.bench.reporting import STRATEGY_LABELS as LABELS
from backend.bench.reporting import chart_alt
from backend.bench.running import RunSpec
from backend.bench.strategies import HARNESS, REFERENCES
from backend.bench.targets import XDIST_WORKERS

if TYPE_CHECKING:
    from matplotlib.axes import Axes

Summaries = dict[RunSpec, Figures]


# Ours in blues (darker: serial, cold first), each reference strategy in a colour of its own.
OURS_COLOURS = ("#1f4e79", "#2e75b6", "#5b9bd5", "#9dc3e6")
REFERENCE_COLOURS = {"database-per-test": "#ed7d31", "truncate": "#70ad47"}
Series = tuple[str, str, list[float | None]]


def _bars(axes: Axes, engines: Sequence[str], series: Sequence[Series], unit: str) -> None:
    width = 0.8 / max(len(series), 1)
    for index, (label, colour, values) in enumerate(series):
        xs = [e + (index - (len(series) - 1) / 2) * width for e in range(len(engines))]
        bars = axes.bar(xs, [value or 0.0 for value in values], width, label=label, color=colour)
        texts = [f"{v:.3g}{unit}" if v is not None else "" for v in values]
        axes.bar_label(bars, labels=texts, fontsize=7, padding=1)
    names = {"postgres": "PostgreSQL", "sqlite": "SQLite"}
    axes.set_xticks(range(len(engines)), [names.get(engine, engine) for engine in engines])


def _get(summaries: Summaries, spec: RunSpec, what: str) -> float | None:
    figures = summaries.get(spec)
    if figures is None:
        return None
    return figures.isolation_ms if what == "isolation" else figures.wall


def isolation_series(summaries: Summaries, engines: Sequence[str]) -> list[Series]:
    colours = {HARNESS: OURS_COLOURS[1], **REFERENCE_COLOURS}
    return [
        (
            LABELS[s],
            colours[s],
            [_get(summaries, RunSpec(e, strategy=s), "isolation") for e in engines],
        )
        for s in (HARNESS, *REFERENCES)
    ]


def suite_series(summaries: Summaries, engines: Sequence[str]) -> list[Series]:
    ours = [RunSpec("", workers, cold) for workers in (0, XDIST_WORKERS) for cold in (True, False)]
    series: list[Series] = [
        (f"ours, {s.mode}, {s.cache}", colour,
         [_get(summaries, RunSpec(e, s.workers, s.cold), "wall") for e in engines])
        for s, colour in zip(ours, OURS_COLOURS, strict=True)
    ] + [
        (f"{LABELS[s]}, serial, warm", REFERENCE_COLOURS[s],
         [_get(summaries, RunSpec(e, strategy=s), "wall") for e in engines])
        for s in REFERENCES
    ]  # fmt: skip
    return [item for item in series if any(value is not None for value in item[2])]


def write_chart(summaries: Summaries, engines: Sequence[str], path: Path) -> None:
    """Write an SVG or PNG (by suffix) with matplotlib's non-interactive backend."""
    import matplotlib  # only the bench group installs it: importing this module must not need it

    matplotlib.use("Agg")
    from matplotlib import pyplot

    # Stable element ids and no timestamp: re-running on the same figures changes no byte.
    pyplot.rcParams["svg.hashsalt"] = "speed-or-parity"
    figure, (left, right) = pyplot.subplots(1, 2, figsize=(11, 4.2), layout="constrained")

    _bars(left, engines, isolation_series(summaries, engines), " ms")
    left.set_yscale("log")
    left.set_ylabel("ms per test (median, log scale)")
    left.set_title("Isolation: set-up + teardown per test (serial, warm)", fontsize=10)
    left.legend(fontsize=8)

    _bars(right, engines, suite_series(summaries, engines), " s")
    right.set_ylabel("seconds (median)")
    right.set_title("Whole suite, wall time", fontsize=10)
    right.margins(y=0.3)  # room for the legend above the tallest bar
    right.legend(fontsize=7, ncols=2, loc="upper left")

    figure.suptitle(chart_alt(), fontsize=11)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, metadata={"Date": None} if path.suffix == ".svg" else None)
    pyplot.close(figure)
