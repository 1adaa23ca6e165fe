"""A bench run as figures: pyperf's JSON (medians, loads, dates, machine) and the run's own record.

pyperf does the repetition and the statistics; this module only reads them. Every figure carries
its run: the date, the commit, the 1-minute load over its repetitions, and the run's Y (the median
of every yardstick sample of the run), in which each figure is also given.
"""

from __future__ import annotations

import json
import os
import shlex
import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pyperf

from backend.bench.junit import Shared
from backend.bench.own_cpu import OwnCpu
from backend.bench.plan import YARDSTICK


@dataclass(frozen=True)
class Measured:
    """One figure: the median of its repetitions, their number, and the load while they ran."""

    name: str
    command: str
    seconds: float
    runs: int
    load: tuple[float, float]
    warmups: int = 0  # unmeasured runs before each measured one, in the same worker


@dataclass
class Run:
    """What the whole run shares: when, which commit, on what, and its yardstick."""

    date: str
    commit: str
    machine: str
    y_values: list[float]  # every yardstick sample, in seconds
    load: tuple[float, float]
    figures: list[Measured] = field(default_factory=list)
    # Computed at the end of the run: simulated makespan per engine label and shard count.
    makespans: dict[str, dict[str, float]] = field(default_factory=dict)
    # Figures whose timed runs had failing tests (pytest's exit code 1): timed, and said so.
    failed: list[str] = field(default_factory=list)
    # Each parity engine's suite against the fast lane's on the tests both ran, by engine label.
    shared: dict[str, Shared] = field(default_factory=dict)
    # The CPU of each suite figure's own pytest process (a serial run's floor), by figure name.
    own_cpu: dict[str, OwnCpu] = field(default_factory=dict)

    @property
    def y_seconds(self) -> float:
        """Y: the median sample."""
        return statistics.median(self.y_values)

    @property
    def y_samples(self) -> int:
        return len(self.y_values)

    @property
    def y_range(self) -> tuple[float, float]:
        """The lowest and highest sample: how far the machine's speed drifted during the run."""
        return min(self.y_values), max(self.y_values)

    def in_y(self, seconds: float) -> float:
        return seconds / self.y_seconds

    def figure(self, name: str) -> Measured | None:
        return next((figure for figure in self.figures if figure.name == name), None)


def _loads(benchmark: Any) -> list[float]:
    return [
        float(run.get_metadata()["load_avg_1min"])
        for run in benchmark.get_runs()
        if "load_avg_1min" in run.get_metadata() and run.values
    ]


def _shown(command: str) -> str:
    """The command as typed: ``uv run pytest …``, without the bench's logging shell around it
    (``sh -c 'exec "$@" > log' sh …``) or the path uv was found at."""
    words = shlex.split(command)
    if words[:2] == ["sh", "-c"]:
        words = words[4:]
    return shlex.join([os.path.basename(words[0]), *words[1:]]) if words else ""


def _measured(benchmark: Any) -> Measured:
    loads = _loads(benchmark) or [0.0]
    return Measured(
        name=benchmark.get_name(),
        command=_shown(str(benchmark.get_metadata().get("command", ""))),
        seconds=float(benchmark.median()),
        runs=benchmark.get_nvalue(),
        load=(min(loads), max(loads)),
        warmups=max((len(run.warmups or ()) for run in benchmark.get_runs()), default=0),
    )


def read_run(pyperf_json: Path, record_json: Path | None = None) -> Run:
    """The run pyperf wrote (and, when present, the makespans the bench recorded beside it)."""
    suite = pyperf.BenchmarkSuite.load(str(pyperf_json))
    benchmarks = suite.get_benchmarks()
    yardsticks = [b for b in benchmarks if b.get_name().startswith(YARDSTICK)]
    timed = [b for b in benchmarks if not b.get_name().startswith(YARDSTICK)]
    if not yardsticks or not timed:
        raise ValueError(f"{pyperf_json} holds no yardstick or no timed command: not a bench run")
    metadata = suite.get_metadata()  # what every benchmark's runs share: machine, commit
    loads = [load for benchmark in benchmarks for load in _loads(benchmark)] or [0.0]
    dates = suite.get_dates()
    run = Run(
        date=dates[0].date().isoformat() if dates else "?",
        commit=str(metadata.get("commit", "?")),
        machine=_machine(metadata),
        y_values=[value for benchmark in yardsticks for value in benchmark.get_values()],
        load=(min(loads), max(loads)),
        figures=[_measured(benchmark) for benchmark in timed],
    )
    if record_json is not None and record_json.exists():
        record = json.loads(record_json.read_text())
        run.makespans, run.failed = record["makespans"], record.get("failed", [])
        run.shared = {
            label: Shared.from_record(shared) for label, shared in record.get("shared", {}).items()
        }
        run.own_cpu = {
            name: OwnCpu.from_record(cpu) for name, cpu in record.get("own_cpu", {}).items()
        }
    return run


def _machine(metadata: dict[str, Any]) -> str:
    cores = metadata.get("cpu_count", "?")
    model = metadata.get("cpu_model_name", "unknown CPU")
    return f"{cores} cores ({model}), {metadata.get('platform', 'unknown platform')}"


def write_record(
    path: Path,
    makespans: dict[str, dict[str, float]],
    commit: str,
    failed: list[str],
    shared: dict[str, Shared] | None = None,
    own_cpu: dict[str, OwnCpu] | None = None,
) -> None:
    """What the bench computed from the run, beside pyperf's file."""
    record = {
        "commit": commit,
        "makespans": makespans,
        "failed": failed,
        "shared": {label: each.as_record() for label, each in (shared or {}).items()},
        "own_cpu": {name: cpu.as_record() for name, cpu in (own_cpu or {}).items()},
    }
    path.write_text(json.dumps(record, indent=2) + "\n")


def as_dict(run: Run) -> dict[str, Any]:
    return asdict(run)
