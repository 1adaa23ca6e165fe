"""The two ends of an interrupted run that test_interrupts.py leaves out: a signal in pytest's own
start-up, before it has loaded the harness's plugin (the handler of ``pytest_dbharness_early.pth``)
and the plugin's taking over from it, and the end-of-run report a run interrupted mid-test still
writes (the summary of the tests that finished, ``--junitxml``), with nothing left behind.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pytest_dbharness.harness import harness_of

from backend.tests.fixtures.head_start import (
    HEAD,
    Ahead,
    for_test,
    scratch_place_of_this_run,
)
from backend.tests.harness.inner import (
    inner_command,
    inner_env,
    start_inner,
    stop_inner,
    write_tests,
)
from backend.tests.harness.test_interrupts import INTERRUPTED, _leftovers

SECONDS = 120

# Named with -p, so pytest imports it before the plugins of the entry points (the harness's among
# them): the run stalls in pytest's start-up, and says whether the harness's plugin was loaded.
EARLY_STALL = """
import os, sys, time
from pathlib import Path

mark = Path(os.environ["INNER_MARK_DIR"])
(mark / "early.tmp").write_text(str("pytest_dbharness.plugin" in sys.modules))
(mark / "early.tmp").replace(mark / "early")  # whole, for the test that waits for it
time.sleep(60)
"""


def _wait_for(path: Path, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + SECONDS
    while not path.exists():
        assert process.poll() is None, f"the inner run ended first: {process.communicate()[0]}"
        assert time.monotonic() < deadline, f"the inner run never reached {path.name}"
        time.sleep(0.01)


def _ignores_sigint(pid: int) -> bool:
    status = Path(f"/proc/{pid}/status").read_text()
    ignored = int(
        next(line for line in status.splitlines() if line.startswith("SigIgn:")).split()[1], 16
    )
    return bool(ignored & (1 << (signal.SIGINT - 1)))


def _no_noise(output: str) -> None:
    for noise in ("Traceback", "KeyboardInterrupt", "INTERNALERROR", "Exception ignored"):
        assert noise not in output, output


# SIGINT from a terminal to `python -m pytest`; SIGTERM to the `pytest` script started as a shell's
# background job, whose SIGINT is ignored (the group's SIGINT, sent first, must change nothing).
EARLY = [
    pytest.param(signal.SIGINT, signal.SIG_DFL, "module", id="SIGINT-python-m-pytest"),
    pytest.param(signal.SIGTERM, signal.SIG_IGN, "script", id="SIGTERM-pytest-background"),
]


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc (Linux)")
@pytest.mark.parametrize(("sig", "sigint", "command"), EARLY)
def test_a_signal_before_pytest_loads_the_plugin_ends_the_run_with_the_one_line(
    tmp_path: Path, sig: int, sigint: signal.Handlers, command: str
) -> None:
    write_tests(tmp_path, "def test_never_runs():\n    pass\n")
    (tmp_path / "early_stall.py").write_text(EARLY_STALL)
    argv = inner_command(tmp_path, "-p", "early_stall")
    if command == "script":  # what `uv run pytest` starts
        argv = [str(Path(sys.executable).with_name("pytest")), *argv[3:]]
    process = subprocess.Popen(
        argv,
        cwd=tmp_path,
        env=inner_env(INNER_MARK_DIR=str(tmp_path), PYTHONPATH=str(tmp_path)),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        process_group=0,
        preexec_fn=lambda: signal.signal(signal.SIGINT, sigint),
    )
    _wait_for(tmp_path / "early", process)
    assert (tmp_path / "early").read_text() == "False", "the harness's plugin was already loaded"
    if sigint == signal.SIG_IGN:
        assert _ignores_sigint(process.pid), "the early handler took the ignored SIGINT"
        os.killpg(process.pid, signal.SIGINT)
    os.killpg(process.pid, sig)
    output, _ = process.communicate(timeout=SECONDS)
    _no_noise(output)
    assert process.returncode == 2, output
    assert output.strip().splitlines()[-1] == (
        f"interrupted by {signal.Signals(sig).name} during start-up: the run stopped, "
        "and nothing it started is left running"
    ), output


@pytest.fixture
def engine(pytestconfig: pytest.Config) -> str:
    return harness_of(pytestconfig).options.engine


def _start_in(project: Path, scratch: Path, engine: str, *args: str) -> subprocess.Popen[str]:
    return start_inner(
        project,
        "--db",
        engine,
        *args,
        DBHARNESS_SCRATCH_DIR=str(scratch),
        INNER_MARK_DIR=str(project),
    )


def _interrupt(process: subprocess.Popen[str], sig: int, scratch: Path) -> str:
    os.killpg(process.pid, sig)
    output, _ = process.communicate(timeout=SECONDS)
    _no_noise(output)
    assert process.returncode == 2, output
    assert _leftovers(scratch) == [], output
    assert INTERRUPTED.match(output.strip().splitlines()[-1]), output
    return output


# While pytest imports the conftests: the plugin's handler is in place, and pytest already
# captures file descriptors 1 and 2 (its capture begins before it looks for conftests).
IMPORTING_STALL = """
import os, time
from pathlib import Path

(Path(os.environ["INNER_MARK_DIR"]) / "importing").touch()
time.sleep(600)  # until signalled: it may be started at the outer run's start
"""

# After the plugin's own pytest_configure, which has launched the server: still start-up.
CONFIGURED_STALL = """
import os, time
from pathlib import Path

import pytest


@pytest.hookimpl(trylast=True)
def pytest_configure(config):
    (Path(os.environ["INNER_MARK_DIR"]) / "configured").touch()
    time.sleep(600)  # until signalled: it may be started at the outer run's start
"""


@dataclass
class Stalled:
    """An inner run waiting where its test interrupts it, in ``project``, its files in ``scratch``."""

    project: Path
    scratch: Path
    process: subprocess.Popen[str]


def _stalled(project: Path, engine: str, mark: str, *args: str) -> Stalled:
    """Start the run in ``project`` and wait until it writes ``mark``, where it waits."""
    scratch = scratch_place_of_this_run()
    process = _start_in(project, scratch, engine, *args)
    with contextlib.suppress(AssertionError):  # its test says what went wrong
        _wait_for(project / mark, process)
    return Stalled(project, scratch, process)


def _stop(stalled: Stalled) -> None:
    stop_inner(stalled.process, SECONDS)
    shutil.rmtree(stalled.scratch, ignore_errors=True)


def _importing_conftests(directory: Path, engine: str) -> Stalled:
    write_tests(directory, "def test_never_runs():\n    pass\n")
    (directory / "conftest.py").write_text(IMPORTING_STALL)
    return _stalled(directory, engine, "importing")


def _at_configure(directory: Path, engine: str) -> Stalled:
    write_tests(directory, "def test_never_runs():\n    pass\n")
    (directory / "conftest.py").write_text(CONFIGURED_STALL)
    return _stalled(directory, engine, "configured")


def _mid_test(directory: Path, engine: str) -> Stalled:
    project = directory / "project"
    project.mkdir()
    write_tests(project, REPORTED_TESTS)
    return _stalled(project, engine, "test", f"--junitxml={directory / 'junit.xml'}")


def _ahead(stall: Any) -> Any:
    """``stall`` as fixtures/head_start.py starts it: on the run's engine, in its own folder."""
    return lambda config, directory, _items: stall(directory, harness_of(config).options.engine)


def _taken(key: str, stall: Any, tmp_path: Path, engine: str) -> Iterator[Stalled]:
    stalled = HEAD.take(key) or stall(tmp_path, engine)
    try:
        yield stalled
    finally:
        _stop(stalled)


@pytest.fixture
def importing_conftests(tmp_path: Path, engine: str) -> Iterator[Stalled]:
    """A run stalled while pytest imports its conftest: started ahead of the run or now."""
    yield from _taken("early stall importing conftests", _importing_conftests, tmp_path, engine)


@pytest.fixture
def at_configure(tmp_path: Path, engine: str) -> Iterator[Stalled]:
    """A run stalled after the plugin's pytest_configure (its server launched): started ahead of
    the run (``HEAD_START``) or now."""
    yield from _taken("early stall at configure", _at_configure, tmp_path, engine)


@pytest.fixture
def mid_test(tmp_path: Path, engine: str) -> Iterator[Stalled]:
    """A run stalled in its fifth test, four finished: started ahead of the run or now."""
    yield from _taken("early stall mid-test", _mid_test, tmp_path, engine)


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc (Linux)")
def test_the_plugin_takes_over_and_stops_the_server_it_launched_at_start_up(
    at_configure: Stalled,
) -> None:
    process, scratch = at_configure.process, at_configure.scratch
    _wait_for(at_configure.project / "configured", process)
    assert list(scratch.glob("*/run-*")), "the inner run provisioned nothing"
    # Were the early handler still in place, the run's files would be left behind.
    output = _interrupt(process, signal.SIGTERM, scratch)
    assert "interrupted by SIGTERM during start-up" in output, output


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc (Linux)")
def test_a_signal_while_pytest_imports_the_conftests_is_said_on_the_terminal(
    importing_conftests: Stalled,
) -> None:
    process = importing_conftests.process
    _wait_for(importing_conftests.project / "importing", process)
    # Written where pytest's capture had put file descriptor 2, the line was lost with the
    # capture at the exit: exit code 2 and no output at all (seen in a fresh-clone CI run).
    output = _interrupt(process, signal.SIGINT, importing_conftests.scratch)
    assert "interrupted by SIGINT during start-up" in output, output


REPORTED_TESTS = """
import asyncio, os
from pathlib import Path

import pytest
from sqlalchemy import text


@pytest.mark.parametrize("n", range(3))
async def test_in_a_transaction(db_session, n):
    await db_session.execute(text("SELECT 1"))


@pytest.mark.committed
async def test_committed(db_session):
    await db_session.execute(text("SELECT 1"))


async def test_stalls(db_session):
    (Path(os.environ["INNER_MARK_DIR"]) / "test").touch()
    await asyncio.sleep(600)  # inside the test's open transaction, until signalled
"""


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc (Linux)")
def test_a_run_interrupted_mid_test_still_reports_the_tests_that_finished(
    mid_test: Stalled,
) -> None:
    junit = mid_test.project.parent / "junit.xml"
    _wait_for(mid_test.project / "test", mid_test.process)
    output = _interrupt(mid_test.process, signal.SIGINT, mid_test.scratch)
    assert "during the tests (4 finished)" in output.strip().splitlines()[-1], output
    # pytest's own report as far as the run got: its counts, the plugin's summary, the XML file.
    assert "4 passed in " in output, output
    assert "4 tests ran on " in output, output
    suite = ET.parse(junit).getroot().find("testsuite")  # noqa: S314 - the inner run's own file
    assert suite is not None
    assert suite.get("tests") == "4", ET.tostring(suite)
    assert suite.get("failures") == "0", ET.tostring(suite)


# Started at a serial run's first test (fixtures/head_start.py): each run's second of imports and
# its server's launch on the idle second core; each then waits where its test interrupts it.
HEAD_START = {
    "early stall importing conftests": Ahead(
        needed_by=for_test(
            "test_a_signal_while_pytest_imports_the_conftests_is_said_on_the_terminal"
        ),
        start=_ahead(_importing_conftests),
        stop=_stop,
    ),
    "early stall at configure": Ahead(
        needed_by=for_test(
            "test_the_plugin_takes_over_and_stops_the_server_it_launched_at_start_up"
        ),
        start=_ahead(_at_configure),
        stop=_stop,
    ),
    "early stall mid-test": Ahead(
        needed_by=for_test("test_a_run_interrupted_mid_test_still_reports_the_tests_that_finished"),
        start=_ahead(_mid_test),
        stop=_stop,
    ),
}
