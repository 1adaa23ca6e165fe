"""What a developer waits for, per engine: one test as a whole process, a typical API test, and the
whole suite as the README runs it (everything, harness self-tests and fuzzer included).

Timed from outside, as whole processes; the typical test's cost is timed around each test's whole
protocol (set-up, call, teardown) by a hook in the generated directory. Medians of the repetitions.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path

from backend.bench.running import RAN, BenchError, RunSpec, run_environment
from backend.config import PROJECT_ROOT

# A user, a context, one authenticated GET: what most API tests do.
TYPICAL_TESTS = 100
TYPICAL_MODULE = """\
import pytest
from backend.tests.factories import make_context, make_user


@pytest.mark.parametrize("number", range({count}))
async def test_typical(number, db_session, client_for):
    user = await make_user(db_session)
    context = await make_context(db_session, owner=user)
    client = await client_for(user)
    response = await client.get(f"/contexts/{{context.id}}")
    assert response.status_code == 200
"""
# Times each test's whole protocol (set-up + call + teardown) at full clock resolution.
TYPICAL_CONFTEST = """\
import json
import os
import time

import pytest

_times = []


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item, nextitem):
    started = time.perf_counter()
    try:
        return (yield)
    finally:
        _times.append(time.perf_counter() - started)


def pytest_sessionfinish(session):
    with open(os.environ["TYPICAL_TIMES"], "w") as out:
        json.dump(_times, out)
"""
# The project's own pytest settings (addopts, asyncio), so the process starts as `uv run pytest`.
TYPICAL_INI = """\
[pytest]
addopts = --strict-markers -p pytest_dbharness.plugin -p no:postgresql
    -p backend.tests.fixtures.clients -p backend.tests.fixtures.hashing
    -p no:schemathesis -p no:hypothesispytest -p no:randomly
harness_project = backend.tests.project:PROJECT
asyncio_mode = auto
asyncio_default_fixture_loop_scope = session
asyncio_default_test_loop_scope = session
"""


@dataclass
class Everyday:
    """Median seconds per engine; ``typical_ms`` is the typical test's median cost in ms."""

    one_test_s: dict[str, float] = field(default_factory=dict)
    typical_ms: dict[str, float] = field(default_factory=dict)
    suite_s: dict[str, float] = field(default_factory=dict)
    suite_n2_s: dict[str, float] = field(default_factory=dict)


def _write_typical(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "pytest.ini").write_text(TYPICAL_INI)
    (directory / "conftest.py").write_text(TYPICAL_CONFTEST)
    module = directory / "test_typical.py"
    module.write_text(textwrap.dedent(TYPICAL_MODULE.format(count=TYPICAL_TESTS)))
    return module


def _timed(
    command: list[str], cwd: Path, engine: str, log: Path, times: Path | None = None
) -> float:
    env = run_environment(RunSpec(engine), log.parent)
    if times is not None:
        env["TYPICAL_TIMES"] = str(times)
    started = time.perf_counter()
    with log.open("w") as output:
        code = subprocess.run(
            command, cwd=cwd, env=env, stdout=output, stderr=subprocess.STDOUT, check=False
        ).returncode
    wall = time.perf_counter() - started
    if code not in RAN:
        raise BenchError(f"{' '.join(command)} exited with {code}; see {log}")
    return wall


def _typical_ms(times_file: Path) -> float:
    times: list[float] = json.loads(times_file.read_text())
    # The first test also pays for the session's fixtures (the clone, the app): not typical.
    return 1000 * float(statistics.median(times[1:] or times))


def _engine_runs(engine: str, number: int, workdir: Path, quick: bool) -> dict[str, float]:
    """One repetition of every figure on ``engine``."""
    typical_dir, logs = workdir / "typical", workdir / "logs"
    pytest = [sys.executable, "-m", "pytest", "-q", "--db", engine]
    own_cache = ["-o", f"cache_dir={workdir / 'cache'}"]
    tag = f"{engine}_{number}"
    times = typical_dir / f"times_{tag}.json"
    one_test = [*pytest, *own_cache, "test_typical.py::test_typical[0]"]
    figures = {
        "one_test_s": _timed(one_test, typical_dir, engine, logs / f"one_{tag}.log"),
    }
    typical = [*pytest, *own_cache, "test_typical.py"]
    _timed(typical, typical_dir, engine, logs / f"typical_{tag}.log", times)
    figures["typical_ms"] = _typical_ms(times)
    # The README's command: the project's own configuration and cache, every test.
    figures["suite_s"] = _timed(pytest, PROJECT_ROOT, engine, logs / f"all_{tag}.log")
    if not quick:
        parallel = [*pytest, "-n", "2"]
        figures["suite_n2_s"] = _timed(parallel, PROJECT_ROOT, engine, logs / f"all_n2_{tag}.log")
    return figures


def measure_everyday(engines: tuple[str, ...], repeat: int, workdir: Path, quick: bool) -> Everyday:
    """Every figure, per engine, medians of ``repeat``; the suite with -n 2 only when not quick."""
    _write_typical(workdir / "typical")
    (workdir / "logs").mkdir(parents=True, exist_ok=True)
    everyday = Everyday()
    for engine in engines:
        runs = [_engine_runs(engine, number, workdir, quick) for number in range(repeat)]
        for name in runs[0]:
            getattr(everyday, name)[engine] = statistics.median(run[name] for run in runs)
        print(f"everyday {engine}: {runs}", file=sys.stderr, flush=True)
    return everyday
