"""A pytest plugin the benchmark loads into each measured run with ``-p backend.bench.probe``.

It records, with the wall clock, when the process reached each point on the way to the first test,
and per test how long the database fixtures took to set up and tear down. Every process (the only
one, or the xdist controller and each worker) writes its own JSON file into the directory named by
``BACKEND_BENCH_PROBE_DIR`` when it ends; without that variable the plugin does nothing.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Generator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pytest

PROBE_DIR_ENV = "BACKEND_BENCH_PROBE_DIR"
# The fixtures whose per-test set-up and teardown are the price of isolation, whichever strategy
# provides them (the reference strategies make db_engine per test).
ISOLATION_FIXTURES = frozenset({"db_engine", "_worker_connection", "db_sessionmaker", "db_session"})

# As early as pytest imports a -p plugin: after the interpreter, pytest and the plugins before it
# (the harness's, named first in addopts), before the plugins installed as entry points.
_early_marks = {"imported": time.time()}


@dataclass
class TestRecord:
    nodeid: str
    uses_db_session: bool
    outcome: str = "passed"
    # report.duration per phase: setup, call, teardown.
    phases: dict[str, float] = field(default_factory=dict)
    # Function-scoped isolation fixtures: name -> [setup seconds, teardown seconds].
    fixtures: dict[str, list[float]] = field(default_factory=dict)


class Probe:
    def __init__(self, out_dir: Path, worker: str, role: str) -> None:
        self.out_dir = out_dir
        self.worker = worker
        self.role = role
        self.marks: dict[str, float] = dict(_early_marks)
        # Fixtures of a wider scope than the test, set up once: name -> seconds.
        self.session_fixtures: dict[str, float] = {}
        self.tests: dict[str, TestRecord] = {}
        self._teardown_started: dict[str, float] = {}

    def _mark_once(self, name: str) -> None:
        self.marks.setdefault(name, time.time())

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        # After every plugin's pytest_configure (the harness provisions there), before xdist
        # starts its workers.
        self._mark_once("configured")

    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        # Top-level modules first (the sort is stable), so that the first test is an ordinary one
        # on the worker's database, not a migration check that makes an empty database of its
        # own: the time to the first test then includes the clone, as a developer's run does.
        items.sort(key=lambda item: len(item.path.parts))

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self._mark_once("collected")

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        self._mark_once("first_setup")
        uses_db_session = "db_session" in getattr(item, "fixturenames", ())
        self.tests[item.nodeid] = TestRecord(item.nodeid, uses_db_session)

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_call(self, item: pytest.Item) -> None:
        self._mark_once("first_call")

    @pytest.hookimpl(wrapper=True)
    def pytest_fixture_setup(
        self, fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest
    ) -> Generator[None, Any, Any]:
        watched = fixturedef.scope != "function" or fixturedef.argname in ISOLATION_FIXTURES
        if not watched:
            return (yield)
        started = time.perf_counter()
        try:
            return (yield)
        finally:
            self._record_setup(fixturedef, request, time.perf_counter() - started)
            # Finalizers run last-added first, so this one runs just before the fixture's own
            # teardown (registered while it was set up); pytest_fixture_post_finalizer runs after.
            fixturedef.addfinalizer(lambda: self._teardown_starts(fixturedef))

    def _record_setup(
        self, fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest, seconds: float
    ) -> None:
        record = self.tests.get(request.node.nodeid) if fixturedef.scope == "function" else None
        if record is None:
            self.session_fixtures[fixturedef.argname] = seconds
        else:
            record.fixtures[fixturedef.argname] = [seconds, 0.0]

    def _teardown_starts(self, fixturedef: pytest.FixtureDef[Any]) -> None:
        self._teardown_started[fixturedef.argname] = time.perf_counter()

    def pytest_fixture_post_finalizer(
        self, fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest
    ) -> None:
        started = self._teardown_started.pop(fixturedef.argname, None)
        record = self.tests.get(request.node.nodeid)
        if started is None or record is None or fixturedef.argname not in record.fixtures:
            return
        record.fixtures[fixturedef.argname][1] = time.perf_counter() - started

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        # Under xdist the controller receives the workers' reports too; they record their own.
        record = self.tests.get(report.nodeid)
        if record is None:
            return
        record.phases[report.when] = report.duration
        if report.outcome != "passed" and record.outcome != "failed":
            record.outcome = report.outcome

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        self._mark_once("finished")

    def write(self) -> None:
        data = {
            "worker": self.worker,
            "role": self.role,
            "pid": os.getpid(),
            "marks": self.marks,
            "session_fixtures": self.session_fixtures,
            "tests": [asdict(record) for record in self.tests.values()],
        }
        path = self.out_dir / f"probe-{self.worker}-{os.getpid()}.json"
        path.write_text(json.dumps(data))


_probe_key = pytest.StashKey[Probe]()


def _role(config: pytest.Config) -> tuple[str, str]:
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None:
        return str(workerinput["workerid"]), "worker"
    distributed = getattr(config.option, "numprocesses", None) not in (None, 0)
    return "main", "controller" if distributed else "single"


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests() -> None:
    # pytest has loaded the entry-point plugins (xdist, asyncio, hypothesis, schemathesis, …).
    _early_marks["plugins_loaded"] = time.time()


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    _early_marks["configure_started"] = time.time()
    out_dir = os.environ.get(PROBE_DIR_ENV)
    if not out_dir:
        return
    worker, role = _role(config)
    probe = config.stash[_probe_key] = Probe(Path(out_dir), worker, role)
    config.pluginmanager.register(probe, "backend-bench-probe")


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    # Last, after the harness has stopped its server and removed its directory.
    probe = config.stash.get(_probe_key, None)
    if probe is not None:
        probe.marks["unconfigured"] = time.time()
        probe.write()
