"""Ctrl-C (SIGINT to the run's process group) and SIGTERM at every phase of a run: one line saying
so, exit code 2, no traceback, and no server, process or run directory left behind.

Inner runs use the outer run's engine, so the SQLite lane checks SQLite and the PostgreSQL lane
PostgreSQL. ``DBHARNESS_INTERRUPT_TRIES`` sets how many runs are interrupted at random moments: 1
in the suite, at a moment drawn from the run's random seed (pytest-randomly's, so each run of the
suite tries another moment and ``-p randomly --randomly-seed=N`` repeats one), and 50 per engine in
``nox -s interrupts``, which CI runs.
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from pytest_dbharness.harness import harness_of

from backend.tests.fixtures.head_start import (
    HEAD,
    Ahead,
    scratch_place_of_this_run,
)
from backend.tests.harness.inner import scratch_place, start_inner, stop_inner, write_tests

TRIES = int(os.environ.get("DBHARNESS_INTERRUPT_TRIES", "1"))
SECONDS = 120  # no inner run may take longer, interrupted or not

INNER_TESTS = """
import asyncio, os, time
from pathlib import Path

import pytest
from sqlalchemy import text

MARK = Path(os.environ["INNER_MARK_DIR"])
if os.environ.get("INNER_STALL") == "collection":
    (MARK / "collection").touch()
    time.sleep(600)  # until signalled; a stalled run may be started at the outer run's start


@pytest.mark.parametrize("n", range(8))
async def test_in_a_transaction(db_session, n):
    await db_session.execute(text("SELECT 1"))
    if os.environ.get("INNER_STALL") == "test" and n == 3:
        (MARK / "test").touch()
        await asyncio.sleep(600)  # inside the test's open transaction, until signalled


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
        time.sleep(600)  # until signalled; a stalled run may be started at the outer run's start
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
    """Where an inner run keeps its files (its DBHARNESS_SCRATCH_DIR), checked for leftovers."""
    with scratch_place("backend-interrupts-") as path:
        yield path


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


def _handles_signals(process: subprocess.Popen[str]) -> bool:
    """Whether the inner run catches SIGTERM yet: a handler of the harness's is in place (the early
    one of pytest_dbharness_early.pth, which the plugin's replaces; test_interrupts_early.py).

    Only once it runs its own command: between fork and exec the child shows this process's
    handlers, and a signal sent then is not the run's to report."""
    try:
        command = Path(f"/proc/{process.pid}/cmdline").read_bytes()
        status = Path(f"/proc/{process.pid}/status").read_text()
    except OSError:
        return False
    if command.split(b"\0")[: len(process.args)] != [str(a).encode() for a in process.args]:
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
    # Said with the exit code: a run that exited 2 and wrote nothing at all was seen twice in
    # fresh-clone CI runs. A signal while pytest imported the conftests wrote the line into
    # pytest's capture (test_interrupts_early.py has that moment as a test of its own).
    said = f"exit code {process.returncode}, output {output!r}"
    assert process.returncode == 2, said
    assert lines and INTERRUPTED.match(lines[-1]), said
    return lines[-1]


PHASES = [
    ("start-up", signal.SIGTERM, "during start-up"),
    ("collection", signal.SIGINT, "during collection"),
    ("test", signal.SIGTERM, "during the tests (3 finished)"),
    ("teardown", signal.SIGINT, "while finishing"),
]


@dataclass
class StalledRun:
    """An inner run started to stall at one phase (it waits there until signalled)."""

    directory: Path
    scratch: Path
    process: subprocess.Popen[str]


def _start_stalled(directory: Path, engine: str, stall: str) -> StalledRun:
    scratch = scratch_place_of_this_run()
    return StalledRun(directory, scratch, _start(directory, scratch, engine, stall))


def _stalls_of(items: list[pytest.Item]) -> list[str]:
    return [item.callspec.params["stall"] for item in items if _stalls_in_a_phase(item)]


def _stalls_in_a_phase(item: pytest.Item) -> bool:
    """A phase test whose run can be started before it: all but the start-up one."""
    return (
        isinstance(item, pytest.Function)
        and item.originalname == "test_an_interrupt_at_each_phase_ends_the_run_cleanly"
        and item.callspec.params["stall"] != "start-up"
    )


def _start_stalls(
    config: pytest.Config, directory: Path, items: list[pytest.Item]
) -> dict[str, StalledRun]:
    """The runs these phase tests interrupt, side by side, each once it waits at its phase."""
    engine = harness_of(config).options.engine
    runs = {}
    for stall in _stalls_of(items):
        (directory / stall).mkdir()
        runs[stall] = _start_stalled(directory / stall, engine, stall)
    for stall, run in runs.items():
        with contextlib.suppress(AssertionError):  # its test says what went wrong
            _wait_for((run.directory / stall).exists, run.process, f"its {stall}")
    return runs


def _stop_stalls(runs: dict[str, StalledRun]) -> None:
    """What a test did not signal (it failed, or never ran) is stopped with SIGTERM, so that it
    still cleans up; then the scratch places go."""
    for run in runs.values():
        stop_inner(run.process, SECONDS)
        shutil.rmtree(run.scratch, ignore_errors=True)


# Started at the run's first test in a serial run (fixtures/head_start.py): a second of imports
# each, on the idle second core, long before this module's tests come.
HEAD_START = {
    "interrupt stalls": Ahead(
        needed_by=_stalls_in_a_phase,
        start=_start_stalls,
        stop=_stop_stalls,
    )
}


@pytest.fixture(scope="module")
def stalled_together(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, StalledRun]]:
    """The runs this run's phase tests will interrupt where they stall: started ahead of the run
    (``HEAD_START``) or, in an xdist worker, in each test; each waits at its phase until its test
    signals it."""
    runs = HEAD.take("interrupt stalls") or {}
    yield runs
    _stop_stalls(runs)


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc (Linux)")
@pytest.mark.parametrize(("stall", "sig", "phase"), PHASES, ids=[p[0] for p in PHASES])
def test_an_interrupt_at_each_phase_ends_the_run_cleanly(
    tmp_path: Path,
    scratch: Path,
    engine: str,
    stalled_together: dict[str, StalledRun],
    stall: str,
    sig: int,
    phase: str,
) -> None:
    run = stalled_together.get(stall)
    if run is None:
        process = _start(tmp_path, scratch, engine, stall="" if stall == "start-up" else stall)
        run = StalledRun(tmp_path, scratch, process)
    if stall == "start-up":
        _wait_for(lambda: _handles_signals(run.process), run.process, "the plugin's import")
    else:
        _wait_for((run.directory / stall).exists, run.process, f"its {stall}")
    line = _interrupt_and_check(run.process, sig, run.scratch)
    assert phase in line


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc (Linux)")
@pytest.mark.parametrize("attempt", range(TRIES))
def test_an_interrupt_at_a_random_moment_ends_the_run_cleanly(
    tmp_path: Path, scratch: Path, engine: str, attempt: int, pytestconfig: pytest.Config
) -> None:
    # Moments from the first handler's installation (the early one: nothing is started before
    # it) to a little past what a whole run takes here.
    chance = random.Random(f"{_seed(pytestconfig)}:{attempt}")
    sig = chance.choice([signal.SIGINT, signal.SIGTERM])
    typical = RunSeconds(pytestconfig, engine)
    run_seconds = typical.seconds()  # before this run starts: a first measurement is a run too
    process = _start(tmp_path, scratch, engine)
    started = time.monotonic()
    _wait_for(lambda: _handles_signals(process), process, "the plugin's import")
    moment = time.monotonic() + chance.uniform(0, 1.2) * run_seconds
    while process.poll() is None and time.monotonic() < moment:
        time.sleep(0.01)  # watching, so that a run ending first is timed
    if process.poll() is None:
        typical.lasted_at_least(time.monotonic() - started)
        _interrupt_and_check(process, sig, scratch, may_have_ended=True)
    else:
        typical.lasted(time.monotonic() - started)
        assert process.returncode == 0, process.communicate()[0]
        assert _leftovers(scratch) == []
    assert time.monotonic() - started < SECONDS


def _seed(config: pytest.Config) -> object:
    """pytest-randomly's seed for this run (printed in the header), or 0 without the plugin."""
    return config.getoption("randomly_seed", default=None) or 0


class RunSeconds:
    """A whole inner run's duration on this machine, per engine, kept in pytest's cache.

    Measured with one uninterrupted run when the cache has no figure (a fresh clone); after that,
    each try corrects it: a run that ended before its signal is a measurement, and one still
    running when signalled lasted at least that long. The figure only scales the moments: any
    figure still spreads them from the first handler's installation to past the end of a run.
    """

    def __init__(self, config: pytest.Config, engine: str) -> None:
        self.cache = getattr(config, "cache", None)  # None under -p no:cacheprovider
        self.key = f"dbharness-tests/interrupts/run-seconds/{engine}"
        self.engine = engine
        known = self.cache.get(self.key, None) if self.cache is not None else None
        self.figure: float | None = known if isinstance(known, float) else None

    def seconds(self) -> float:
        if self.figure is None:
            with (
                tempfile.TemporaryDirectory() as inner,
                scratch_place("backend-interrupts-") as place,
            ):
                started = time.monotonic()
                _start(Path(inner), place, self.engine).communicate(timeout=SECONDS)
                self.lasted(time.monotonic() - started)
        assert self.figure is not None
        return self.figure

    def lasted(self, seconds: float) -> None:
        self.figure = seconds
        if self.cache is not None:
            self.cache.set(self.key, seconds)

    def lasted_at_least(self, seconds: float) -> None:
        if seconds > self.seconds():
            self.lasted(seconds)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="forks")
def test_a_child_forked_from_the_run_and_signalled_before_its_exec_dies_as_by_default() -> None:
    # subprocess runs preexec_fn in the child before exec, where the run's Python handlers are
    # still in place: the child must die by the signal, not clean up and report as the run.
    child = os.fork()
    if child == 0:
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)
        os._exit(0)
    _, status = os.waitpid(child, 0)
    assert os.WIFSIGNALED(status), status
    assert os.WTERMSIG(status) == signal.SIGTERM
