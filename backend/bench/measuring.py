"""From what a run left (header, probe records, wall time) to figures, and medians over runs."""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from backend.bench.running import RunOutput, RunSpec

STARTUP_LINE = "database start-up: "
ENGINE_LINE = "database: "
# Header phases that start (or reach) the server; the others build or load the schema.
SERVER_PHASE_WORDS = ("server", "initdb", "connect")
# The session fixture that clones the worker's database from the template.
CLONE_FIXTURE = "database_url"


@dataclass
class Figures:
    """One run's figures, or (``runs`` > 1) the medians of several runs of the same spec."""

    spec: RunSpec
    runs: int
    wall: float
    walls: list[float]
    server: str = ""
    phases: dict[str, float] = field(default_factory=dict)
    clone_s: float | None = None
    to_first_test: float | None = None
    # Where the process's time to the first test went, in order (seconds).
    segments: dict[str, float] = field(default_factory=dict)
    isolation_ms: float | None = None
    # Median per fixture and step ("db_sessionmaker setup"), milliseconds.
    isolation_split_ms: dict[str, float] = field(default_factory=dict)
    counts: dict[str, float] = field(default_factory=dict)
    # Time inside tests (set-up + call + teardown, all workers together), and per module.
    test_seconds: float = 0.0
    module_seconds: dict[str, float] = field(default_factory=dict)
    # From the end of the session to the end of the process, in order (seconds).
    ending: dict[str, float] = field(default_factory=dict)

    @property
    def server_s(self) -> float:
        return sum(s for name, s in self.phases.items() if _is_server_phase(name))

    @property
    def schema_s(self) -> float:
        return sum(s for name, s in self.phases.items() if not _is_server_phase(name))

    @property
    def harness_s(self) -> float:
        """The harness's own start-up: the header's phases plus the first worker's clone."""
        return sum(self.phases.values()) + (self.clone_s or 0.0)


def _is_server_phase(name: str) -> bool:
    return any(word in name for word in SERVER_PHASE_WORDS)


def parse_startup_phases(header: Iterable[str]) -> dict[str, float]:
    """``database start-up: restore cluster 0.10s, server start 0.06s`` -> {name: seconds}."""
    for line in header:
        if not line.startswith(STARTUP_LINE):
            continue
        body = line.removeprefix(STARTUP_LINE).strip()
        if body == "nothing to do":
            return {}
        phases = {}
        for part in body.split(", "):
            name, _, seconds = part.rpartition(" ")
            phases[name] = float(seconds.removesuffix("s"))
        return phases
    raise ValueError("the pytest header has no 'database start-up:' line")


def parse_server(header: Iterable[str]) -> str:
    for line in header:
        if line.startswith(ENGINE_LINE):
            return line.removeprefix(ENGINE_LINE).partition(", ")[2]
    return ""


def median(values: Iterable[float | None]) -> float | None:
    present = [value for value in values if value is not None]
    return statistics.median(present) if present else None


def median_of_dicts(dicts: Iterable[Mapping[str, float]]) -> dict[str, float]:
    gathered: dict[str, list[float]] = defaultdict(list)
    for mapping in dicts:
        for key, value in mapping.items():
            gathered[key].append(value)
    return {key: statistics.median(values) for key, values in gathered.items()}


def isolation_per_test(tests: Iterable[Mapping[str, Any]]) -> list[float]:
    """Set-up plus teardown of the isolation fixtures, in ms, for each passed test using db_session."""
    return [
        1000 * sum(setup + teardown for setup, teardown in test["fixtures"].values())
        for test in tests
        if test["uses_db_session"] and test["outcome"] == "passed" and test["fixtures"]
    ]


def isolation_split(tests: Iterable[Mapping[str, Any]]) -> dict[str, float]:
    steps: dict[str, list[float]] = defaultdict(list)
    for test in tests:
        if not (test["uses_db_session"] and test["outcome"] == "passed"):
            continue
        for name, (setup, teardown) in test["fixtures"].items():
            steps[f"{name} setup"].append(1000 * setup)
            steps[f"{name} teardown"].append(1000 * teardown)
    return {step: statistics.median(values) for step, values in steps.items()}


# The process's way to its first test, in order. imports: the interpreter, pytest and the harness
# plugin (named first in addopts); plugins: the entry-point plugins (xdist, asyncio, hypothesis,
# schemathesis, …) and conftest; configure: every plugin's pytest_configure, where the harness
# provisions; xdist workers: from the controller's session start to a worker's (each imports
# everything again); 1st test set-up: its fixtures, the clone of the worker's database among them.
IMPORTS = "imports"
PLUGINS = "plugins"
CONFIGURE = "configure"
WORKERS_START = "xdist workers"
COLLECTION = "collection"
FIRST_SETUP = "1st test set-up"
SEGMENTS = (IMPORTS, PLUGINS, CONFIGURE, WORKERS_START, COLLECTION, FIRST_SETUP)
# The segments that are importing code rather than doing the harness's work.
IMPORT_SEGMENTS = (IMPORTS, PLUGINS)


def _chain(start: float, points: list[tuple[str, float]]) -> dict[str, float]:
    segments = {}
    for name, end in points:
        segments[name] = end - start
        start = end
    return segments


def first_test_segments(
    launched: float, probes: list[dict[str, Any]]
) -> tuple[dict[str, float], dict[str, Any] | None]:
    """Where the time from launch to the first test's call went, and the process that ran it."""
    runners = [p for p in probes if "first_call" in p["marks"]]
    if not runners:
        return {}, None
    first = min(runners, key=lambda p: p["marks"]["first_call"])
    controller = next((p for p in probes if p["role"] == "controller"), first)["marks"]
    points = [
        (IMPORTS, controller["imported"]),
        (PLUGINS, controller["configure_started"]),
        (CONFIGURE, controller["configured"]),
    ]
    marks = first["marks"]
    if first["role"] == "worker":
        points.append((WORKERS_START, marks["configured"]))
    points += [(COLLECTION, marks["collected"]), (FIRST_SETUP, marks["first_call"])]
    return _chain(launched, points), first


def ending_segments(launched: float, wall: float, probes: list[dict[str, Any]]) -> dict[str, float]:
    """After the last test: pytest's summary and the harness's teardown, then the process exit."""
    main = next((p for p in probes if p["role"] != "worker"), None)
    if main is None or "unconfigured" not in main["marks"]:
        return {}
    marks = main["marks"]
    return _chain(
        marks["finished"],
        [("summary, harness teardown", marks["unconfigured"]), ("exit", launched + wall)],
    )


def figures_of(output: RunOutput) -> Figures:
    segments, first = first_test_segments(output.launched, output.probes)
    tests = [test for probe in output.probes for test in probe["tests"]]
    modules: dict[str, float] = defaultdict(float)
    for test in tests:
        modules[test["nodeid"].split("::")[0]] += sum(test["phases"].values())
    counts: dict[str, float] = defaultdict(float)
    for test in tests:
        counts[test["outcome"]] += 1
    ending = ending_segments(output.launched, output.wall, output.probes)
    return Figures(
        spec=output.spec,
        runs=1,
        wall=output.wall,
        walls=[output.wall],
        server=parse_server(output.header),
        phases=parse_startup_phases(output.header),
        clone_s=first["session_fixtures"].get(CLONE_FIXTURE) if first else None,
        to_first_test=sum(segments.values()) if segments else None,
        segments=segments,
        isolation_ms=median(isolation_per_test(tests)),
        isolation_split_ms=isolation_split(tests),
        counts=dict(counts),
        test_seconds=sum(modules.values()),
        module_seconds=dict(modules),
        ending=ending,
    )


def combine(runs: list[Figures]) -> Figures:
    """The medians of several runs of one spec (the machine is noisy: never a single run)."""
    walls = [run.wall for run in runs]
    return replace(
        runs[0],
        runs=len(runs),
        wall=statistics.median(walls),
        walls=walls,
        phases=median_of_dicts(run.phases for run in runs),
        clone_s=median(run.clone_s for run in runs),
        to_first_test=median(run.to_first_test for run in runs),
        segments=median_of_dicts(run.segments for run in runs),
        isolation_ms=median(run.isolation_ms for run in runs),
        isolation_split_ms=median_of_dicts(run.isolation_split_ms for run in runs),
        counts=median_of_dicts(run.counts for run in runs),
        test_seconds=statistics.median(run.test_seconds for run in runs),
        module_seconds=median_of_dicts(run.module_seconds for run in runs),
        ending=median_of_dicts(run.ending for run in runs),
    )


def summarise(runs: Iterable[Figures]) -> dict[RunSpec, Figures]:
    """One median Figures per spec, in the order the specs were first run."""
    by_spec: dict[RunSpec, list[Figures]] = {}
    for run in runs:
        by_spec.setdefault(run.spec, []).append(run)
    return {spec: combine(group) for spec, group in by_spec.items()}
