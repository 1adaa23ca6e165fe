"""Ctrl-C (SIGINT to the run's process group) and SIGTERM at every phase of a run: one line saying
so, exit code 2, no traceback, and no server, process or run directory left behind.

Inner runs use the outer run's engine, so the SQLite lane checks SQLite and the PostgreSQL lane
PostgreSQL. ``DBHARNESS_INTERRUPT_TRIES`` sets how many runs are interrupted at random moments
(2 by default; ``DBHARNESS_INTERRUPT_TRIES=50`` is the on-demand soak).
"""

from __future__ import annotations

import os
import random
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytest_dbharness.harness import harness_of

from backend.tests.harness.inner import start_inner, write_tests

TRIES = int(os.environ.get("DBHARNESS_INTERRUPT_TRIES", "2"))
SECONDS = 120  # no inner run may take longer, interrupted or not

INNER_TESTS = """
import asyncio, os, time
from pathlib import Path

import pytest
from sqlalchemy import text

MARK = Path(os.environ["INNER_MARK_DIR"])
if os.environ.get("INNER_STALL") == "collection":
    (MARK / "collection").touch()
    time.sleep(60)


@pytest.mark.parametrize("n", range(8))
async def test_in_a_transaction(db_session, n):
    await db_session.execute(text("SELECT 1"))
    if os.environ.get("INNER_STALL") == "test" and n == 3:
        (MARK / "test").touch()
        await asyncio.sleep(60)  # inside the test's open transaction


@pytest.mark.committed
@pytest.mark.parametrize("n", range(4))
async def test_committed(db_session, n):
    await db_session.execute(text("SELECT 1"))
    await asyncio.sleep(0.02)
"""

# After the tests, while the session finishes (the harness tears down after this hook).
INNER_CONFTEST = """
import os, time
from pathlib import Path

def pytest_sessionfinish():
    if os.environ.get("INNER_STALL") == "teardown":
        (Path(os.environ["INNER_MARK_DIR"]) / "teardown").touch()
        time.sleep(60)
"""

INTERRUPTED = re.compile(
    r"interrupted by (SIGINT|SIGTERM) (during start-up|during collection|during the tests "
    r"\(\d+ finished\)|while finishing): the run stopped, and nothing it started is left running$"
)


@pytest.fixture
def engine(pytestconfig: pytest.Config) -> str:
    return harness_of(pytestconfig).options.engine


@pytest.fixture
def scratch() -> Iterator[Path]:
    """A scratch place of its own, reachable by the server's unprivileged user (not 0700)."""
    path = Path(tempfile.mkdtemp(prefix="backend-interrupts-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _leftovers(scratch: Path) -> list[str]:
    found = [str(run) for run in scratch.glob("*/run-*")]
    needle = str(scratch).encode()
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if needle in (proc / "cmdline").read_bytes() and int(proc.name) != os.getpid():
                found.append(f"process {proc.name}: {(proc / 'cmdline').read_bytes()[:200]!r}")
        except OSError:
            continue
    return found


def _start(tmp_path: Path, scratch: Path, engine: str, stall: str = "") -> subprocess.Popen[str]:
    write_tests(tmp_path, INNER_TESTS)
    (tmp_path / "conftest.py").write_text(INNER_CONFTEST)
    return start_inner(
        tmp_path,
        "--db",
        engine,
        DBHARNESS_SCRATCH_DIR=str(scratch),
        INNER_MARK_DIR=str(tmp_path),
        INNER_STALL=stall,
    )


def _wait_for(condition: object, process: subprocess.Popen[str], what: str) -> None:
    deadline = time.monotonic() + SECONDS
    while not condition():  # type: ignore[operator]
        assert process.poll() is None, f"the inner run ended before {what}"
        assert time.monotonic() < deadline, f"the inner run never reached {what}"
        time.sleep(0.01)


def _handles_signals(pid: int) -> bool:
    """Whether the process catches SIGTERM yet: a handler of the harness's is in place (the early
    one of pytest_dbharness_early.pth, which the plugin's replaces; test_interrupts_early.py)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    caught = int(
        next(line for line in status.splitlines() if line.startswith("SigCgt:")).split()[1], 16
    )
    return bool(caught & (1 << (signal.SIGTERM - 1)))


def _interrupt_and_check(
    process: subprocess.Popen[str], sig: int, scratch: Path, *, may_have_ended: bool = False
) -> str:
    os.killpg(process.pid, sig)  # the whole group, as the terminal's Ctrl-C does
    output, _ = process.communicate(timeout=SECONDS)
    lines = output.strip().splitlines()
    for noise in ("Traceback", "INTERNALERROR", "Task exception", "Exception ignored"):
        assert noise not in output, output
    assert _leftovers(scratch) == [], output
    if may_have_ended and process.returncode == 0 and lines and " passed in " in lines[-1]:
        return lines[-1]  # the signal came after the run had reported: nothing to interrupt
    assert process.returncode == 2, output
    assert lines and INTERRUPTED.match(lines[-1]), output
    return lines[-1]


PHASES = [
    ("start-up", signal.SIGTERM, "during start-up"),
    ("collection", signal.SIGINT, "during collection"),
    ("test", signal.SIGTERM, "during the tests (3 finished)"),
    ("teardown", signal.SIGINT, "while finishing"),
]


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc (Linux)")
@pytest.mark.parametrize(("stall", "sig", "phase"), PHASES, ids=[p[0] for p in PHASES])
def test_an_interrupt_at_each_phase_ends_the_run_cleanly(
    tmp_path: Path, scratch: Path, engine: str, stall: str, sig: int, phase: str
) -> None:
    process = _start(tmp_path, scratch, engine, stall="" if stall == "start-up" else stall)
    if stall == "start-up":
        _wait_for(lambda: _handles_signals(process.pid), process, "the plugin's import")
    else:
        _wait_for((tmp_path / stall).exists, process, f"its {stall}")
    line = _interrupt_and_check(process, sig, scratch)
    assert phase in line


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc (Linux)")
@pytest.mark.parametrize("attempt", range(TRIES))
def test_an_interrupt_at_a_random_moment_ends_the_run_cleanly(
    tmp_path: Path, scratch: Path, engine: str, attempt: int
) -> None:
    # Moments from the first handler's installation (the early one: nothing is started before
    # it) to a little past what a whole run takes here.
    chance = random.Random(attempt)
    sig = chance.choice([signal.SIGINT, signal.SIGTERM])
    process = _start(tmp_path, scratch, engine)
    started = time.monotonic()
    _wait_for(lambda: _handles_signals(process.pid), process, "the plugin's import")
    time.sleep(chance.uniform(0, 1.2) * _typical_run_seconds(engine))
    if process.poll() is None:
        _interrupt_and_check(process, sig, scratch, may_have_ended=True)
    else:
        assert process.returncode == 0, process.communicate()[0]
        assert _leftovers(scratch) == []
    assert time.monotonic() - started < SECONDS


_durations: dict[str, float] = {}


def _typical_run_seconds(engine: str) -> float:
    """A whole inner run's duration on this machine now, measured once per engine per process."""
    if engine not in _durations:
        with tempfile.TemporaryDirectory() as directory, tempfile.TemporaryDirectory() as place:
            Path(place).chmod(0o755)
            started = time.monotonic()
            process = _start(Path(directory), Path(place), engine)
            process.communicate(timeout=SECONDS)
            _durations[engine] = time.monotonic() - started
    return _durations[engine]
