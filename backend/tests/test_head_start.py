"""The head start (fixtures/head_start.py): what a serial run's tests will wait on starts at its first
test, for the tests that will run only, below the run's own priority; their tests take it; the next
run removes the scratch places of a run that ended without removing them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pytest_dbharness.rundir import scratch_base

from backend.tests.fixtures.head_start import (
    HEAD,
    NICENESS,
    PLACE_PREFIX,
    Ahead,
    for_test,
    scratch_place_of_this_run,
    sweep_places_of_ended_runs,
)
from backend.tests.harness.inner import result_of, start_inner, write_tests

# A module of the inner run naming two things to start ahead: one for a test that runs, one for a
# test this run skips (a PostgreSQL-only test on SQLite). Each writes a file when started.
AHEAD_TESTS = """
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from backend.tests.fixtures.head_start import HEAD, Ahead

MARKS = Path(__file__).parent
NICENESS_OF_A_CHILD = [sys.executable, "-c", "import os; print(os.nice(0))"]


def _start(name):
    def start(config, directory, items):
        (MARKS / f"{name}.started").write_text(" ".join(item.name for item in items))
        child = subprocess.run(NICENESS_OF_A_CHILD, capture_output=True, text=True, check=True)
        (MARKS / f"{name}.niceness").write_text(child.stdout)
        return f"{name} for {len(items)} tests"

    return start


HEAD_START = {
    "taken": Ahead(needed_by=lambda item: item.name.startswith("test_takes"), start=_start("taken")),
    "skipped": Ahead(needed_by=lambda item: item.name == "test_on_postgres", start=_start("skipped")),
}


def test_first():
    (MARKS / "run.niceness").write_text(str(os.nice(0)))
    time.sleep(0.2)  # the thread starts "taken" meanwhile


def test_takes_what_was_started():
    assert HEAD.take("taken") == "taken for 2 tests"


def test_takes_nothing_the_second_time():
    assert HEAD.take("taken") is None


@pytest.mark.postgres_only(reason="only here to be skipped on SQLite")
def test_on_postgres():
    pass
"""


def _run_with_a_head_start(_config: Any, directory: Path, *_: Any) -> tuple[Path, pytest.RunResult]:
    """``AHEAD_TESTS`` in a process of its own (the head start is one per process, and this run
    has its own), run in ``directory``."""
    write_tests(directory, AHEAD_TESTS, name="test_ahead.py")
    (directory / "conftest.py").write_text(
        'pytest_plugins = ["backend.tests.fixtures.head_start"]\n'
    )
    return directory, result_of(start_inner(directory, "--db", "sqlite"))


# This run's own head start starts that process ahead too (it imports for about a second).
HEAD_START = {
    "a run with a head start": Ahead(
        needed_by=for_test(
            "test_what_tests_of_the_run_name_starts_ahead_and_nothing_for_a_skipped_test"
        ),
        start=_run_with_a_head_start,
    )
}


def test_what_tests_of_the_run_name_starts_ahead_and_nothing_for_a_skipped_test(
    pytestconfig: pytest.Config, tmp_path: Path
) -> None:
    directory, result = HEAD.take("a run with a head start") or _run_with_a_head_start(
        pytestconfig, tmp_path
    )
    assert result.ret == 0, result.stdout.str()
    assert "3 passed, 1 skipped" in result.stdout.str(), result.stdout.str()
    started = directory / "taken.started"
    assert started.read_text() == "test_takes_what_was_started test_takes_nothing_the_second_time"
    assert not (directory / "skipped.started").exists()
    # What the thread starts runs below the run's own priority (Linux caps niceness at 19).
    run_niceness = int((directory / "run.niceness").read_text())
    started_niceness = int((directory / "taken.niceness").read_text())
    assert started_niceness == min(19, run_niceness + NICENESS)


def test_the_next_run_removes_the_places_of_a_run_that_is_gone_and_no_other() -> None:
    gone = scratch_base().parent / f"{PLACE_PREFIX}{_pid_of_an_ended_process()}-test"
    live = scratch_base().parent / f"{PLACE_PREFIX}{os.getpid()}-test"
    for place in (gone, live):
        (place / "dbharness-0").mkdir(parents=True, exist_ok=True)
    try:
        sweep_places_of_ended_runs()
        assert not gone.exists()
        assert live.exists()
    finally:
        for place in (gone, live):
            shutil.rmtree(place, ignore_errors=True)


def _pid_of_an_ended_process() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_scratch_places_are_where_the_servers_user_can_reach_them() -> None:
    place = scratch_place_of_this_run()
    try:
        assert place.name.startswith(f"{PLACE_PREFIX}{os.getpid()}-")
        assert place.stat().st_mode & 0o777 == 0o755
    finally:
        place.rmdir()
