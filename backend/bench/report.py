"""From a run to what people read: the figures table (terminal and docs page) and the scoreboard.

The docs page's measured section is generated here and only here, from one run; the scoreboard
(the issue's targets, met or missed) is the bench's own output, never the user docs'.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pytest_dbharness.backends import ENGINES

from backend.bench import plan
from backend.bench.results import Measured, Run

DOCS_START = "<!-- bench -->"
DOCS_END = "<!-- /bench -->"
# Issue 21's targets, in Y (the yardstick) and as a ratio of the fast lane's suite.
SUITE_LIMIT_Y = 72.0
ONE_TEST_LIMIT_Y = 3.6
PARITY_RATIO_LIMIT = 1.3


@dataclass(frozen=True)
class Target:
    name: str
    measured: str
    met: bool | None  # None: the run did not measure it


def _fast(run: Run, kind: str) -> Measured | None:
    label = ENGINES[plan.default_engine()].label
    names = {plan.ONE: f"one test, {label}", plan.SUITE: plan.suite_name(plan.default_engine())}
    return run.figure(names[kind])


def _within(name: str, figure: Measured | None, run: Run, limit_y: float) -> Target:
    if figure is None:
        return Target(name, "not measured", None)
    y = run.in_y(figure.seconds)
    return Target(name, f"{y:.1f} Y ({figure.seconds:.2f} s)", y <= limit_y)


def scoreboard(run: Run) -> list[Target]:
    fast_label = ENGINES[plan.default_engine()].label
    suite = _fast(run, plan.SUITE)
    targets = [
        _within(f"{fast_label} suite, serial ≤ {SUITE_LIMIT_Y:g} Y", suite, run, SUITE_LIMIT_Y),
        _within(
            f"one test, whole process ≤ {ONE_TEST_LIMIT_Y:g} Y",
            _fast(run, plan.ONE),
            run,
            ONE_TEST_LIMIT_Y,
        ),
    ]
    for engine in plan.parity_engines():
        label = ENGINES[engine].label
        name = f"{label} suite, serial ≤ {PARITY_RATIO_LIMIT:g}x {fast_label}'s, same run"
        parity = run.figure(plan.suite_name(engine))
        if parity is None or suite is None:
            targets.append(Target(name, "not measured", None))
            continue
        ratio = parity.seconds / suite.seconds
        targets.append(Target(name, f"{ratio:.2f}x", ratio <= PARITY_RATIO_LIMIT))
    return targets


def scoreboard_text(run: Run) -> str:
    verdicts = {True: "met", False: "MISSED", None: "not measured"}
    lines = [
        f"{verdicts[target.met]:>12}: {target.name}: {target.measured}"
        for target in scoreboard(run)
    ]
    lines += [
        f"{'for reading':>12}: {label} on the {shared.tests} tests both engines ran: "
        f"{shared.ratio:.2f}x (JUnit times; the target compares the whole runs)"
        for label, shared in run.shared.items()
    ]
    lines += [
        f"{'for reading':>12}: {name}: its own process used {cpu.own_seconds:.1f} CPU-s = "
        f"{run.in_y(cpu.own_seconds):.1f} Y, the least a serial run can take (the processes "
        f"it waited for used {cpu.children_seconds:.1f} CPU-s beside it)"
        for name, cpu in run.own_cpu.items()
    ]
    return "\n".join(lines)


def own_cpu_paragraph(run: Run) -> list[str]:
    """The floor under each serial suite's wall time: its own process's CPU (``own_cpu.py``)."""
    if not run.own_cpu:
        return []
    measured = "; ".join(
        f"{name}: {cpu.own_seconds:.1f} CPU-s ({run.in_y(cpu.own_seconds):.1f} Y) in its own "
        f"process, {cpu.children_seconds:.1f} CPU-s in the processes it waited for"
        + (f", of a {figure.seconds:.2f} s run" if (figure := run.figure(name)) else "")
        for name, cpu in run.own_cpu.items()
    )
    return [
        "A serial run cannot end before its own pytest process has had its CPU (every thread: "
        "the tests, an in-thread live server), however idle the other cores are; the processes "
        "it starts (inner runs, servers started ahead or by a test) run beside it. The last timed "
        f"run of each suite: {measured}. (A PostgreSQL server detached by `pg_ctl` is in "
        "neither.)"
    ]


def shared_paragraphs(run: Run) -> list[str]:
    """The engines compared on the tests both ran (``junit.py``), one paragraph per parity engine."""
    fast = ENGINES[plan.default_engine()].label
    return [
        f"On the {shared.tests} tests both engines ran, pytest's own times (each suite run's "
        "JUnit file: set-up, call and teardown) add up to "
        f"{shared.fast_seconds:.1f} s on {fast} and {shared.parity_seconds:.1f} s on {label}: "
        f"{shared.ratio:.2f}x. {label} also ran {shared.parity_only[0]} tests of its own "
        f"({shared.parity_only[1]:.1f} s) and {fast} {shared.fast_only[0]} "
        f"({shared.fast_only[1]:.1f} s); the whole runs above include those, with start-up and "
        "collection."
        for label, shared in run.shared.items()
    ]


def _load(load: tuple[float, float]) -> str:
    low, high = load
    return f"{low:.1f}" if round(low, 1) == round(high, 1) else f"{low:.1f} to {high:.1f}"


def rows(run: Run) -> list[list[str]]:
    """One row per figure: what, command, seconds, in Y, repetitions, load, run."""
    stamp = f"{run.date}, {run.commit}"
    table = [
        [f.name + (" (some tests failed in it)" if f.name in run.failed else ""),
         f"`{f.command}`", f"{f.seconds:.2f}", f"{run.in_y(f.seconds):.1f}",
         str(f.runs), _load(f.load), stamp]
        for f in run.figures
    ]  # fmt: skip
    for label, spans in run.makespans.items():
        for shards, seconds in spans.items():
            what = "serially" if shards == "1" else f"on {shards} shards"
            table.append([
                f"simulated makespan, {label}, {what}",
                "`.test_durations` + the shard start-up above",
                f"{seconds:.1f}", f"{run.in_y(seconds):.1f}", "-", _load(run.load), stamp,
            ])  # fmt: skip
    return table


HEADERS = ["figure", "command", "seconds (median)", "in Y", "runs", "load", "run"]


def _warmed(run: Run) -> str:
    warmups = {figure.warmups for figure in run.figures}
    if warmups == {0}:
        return " with no warm-up run before it"
    return f" after {'/'.join(str(w) for w in sorted(warmups))} warm-up run(s) of the same command"


def markdown(run: Run) -> str:
    lines = [
        DOCS_START,
        "",
        "Generated from the bench's latest run (`uv run --group bench python -m backend.bench "
        "--docs`, which times each command with pyperf and keeps its results in "
        "`docs/bench/`); `python -m backend.bench --report-only --docs` writes this section "
        "again from those files alone. Nothing below was written by hand.",
        "",
        f"**The run**: {run.date}, commit `{run.commit}`, {run.machine}; 1-minute load "
        f"{_load(run.load)}. **Y** = {run.y_seconds:.3f} s: the median of {run.y_samples} "
        f"samples of `sum(i*i for i in range({plan.YARDSTICK_RANGE:_}))` in a fresh "
        "interpreter, taken before, between and after the timed commands (lowest "
        f"{run.y_range[0]:.3f} s, highest {run.y_range[1]:.3f} s); each figure is also given in "
        "Y, which follows the machine's speed at the time.",
        "",
        "| " + " | ".join(HEADERS) + " |",
        "|" + "---|" * len(HEADERS),
        *("| " + " | ".join(row) + " |" for row in rows(run)),
        "",
        f"Each figure is the median of its runs, each run a fresh process{_warmed(run)}. The "
        "makespan adds a shard's start-up to the slowest shard's recorded test durations "
        "(`nox -s durations`), split as `--splits N` splits them.",
        "",
        *(line for paragraph in shared_paragraphs(run) for line in (paragraph, "")),
        *(line for paragraph in own_cpu_paragraph(run) for line in (paragraph, "")),
        DOCS_END,
    ]
    return "\n".join(lines) + "\n"


def text(run: Run) -> str:
    widths = [
        max(len(str(cell)) for cell in column) for column in zip(HEADERS, *rows(run), strict=True)
    ]

    def line(cells: list[str]) -> str:
        return "  ".join(
            cell.ljust(width) for cell, width in zip(cells, widths, strict=True)
        ).rstrip()

    header = f"run {run.date}, commit {run.commit}, {run.machine}; Y = {run.y_seconds:.3f} s"
    return "\n".join([header, line(HEADERS), *(line(row) for row in rows(run))])


def update_page(page: Path, section: str) -> None:
    """Replace the page's generated section (between the markers) with ``section``."""
    content = page.read_text()
    if DOCS_START not in content or DOCS_END not in content:
        raise ValueError(f"{page} has no {DOCS_START} … {DOCS_END} section to replace")
    before, rest = content.split(DOCS_START, 1)
    _old, after = rest.split(DOCS_END, 1)
    page.write_text(before + section.rstrip("\n") + after)
