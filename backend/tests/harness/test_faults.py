"""Faults around a run: two runs at once, a port already taken, a scratch place that is read-only,
full, or closed to the server's user.

Each scenario runs whole inner pytest sessions and then checks what is left: no run directory, no
process, no database of theirs. A fault the harness cannot get round must stop the run with a
message that says what to do, never a traceback. Runs at once are separate processes (that is the
point); the others run in this process with ``pytester``. (Interrupted and killed runs, a missing
pg_ctl, an unreachable server and a database with data are covered in test_postgres_server.py.)
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import port_for
import pytest
from pytest_dbharness.rundir import SCRATCH_ENV, RunDirectory, process_alive, scratch_base

from backend.tests.fixtures.head_start import HEAD, Ahead, for_test
from backend.tests.harness.conftest import admin_url_of
from backend.tests.harness.inner import (
    output_of,
    run_inner,
    start_inner,
    write_inner_tests,
    write_tests,
)
from backend.tests.harness.test_postgres_server import _connect, _processes_mentioning

POSTGRES_SERVERS = "launches or reaches PostgreSQL servers of its own"

# Records where the run kept its files, so the outer test can check they are gone.
RECORDING_TEST = """
import json
from pathlib import Path
from sqlalchemy import text
from pytest_dbharness.harness import harness_of

async def test_uses_the_database_and_records_its_run(db_session, pytestconfig):
    assert await db_session.scalar(text("SELECT 1")) == 1
    provisioned = harness_of(pytestconfig).provision()
    record = {"run_dir": provisioned.run_dir, "run_id": provisioned.run_id}
    Path("run.json").write_text(json.dumps(record))
"""


@pytest.fixture
def users_scratch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``DBHARNESS_SCRATCH_DIR`` set, as by a user who wants the harness's files there."""
    chosen = tmp_path / "chosen-scratch"
    monkeypatch.setenv(SCRATCH_ENV, str(chosen))
    return chosen


@dataclass(frozen=True)
class Together:
    """Inner runs started at once: their exit codes and outputs, in ``directories``."""

    directories: list[Path]
    results: list[tuple[int, str]]


def _run_together(directory: Path, count: int, *args: str, **env: str) -> Together:
    """Start ``count`` inner runs at once in folders of ``directory`` and wait for all."""
    directories = [directory / f"run{number}" for number in range(count)]
    for run_directory in directories:
        run_directory.mkdir()
        write_tests(run_directory, RECORDING_TEST)
    processes = [start_inner(run_directory, *args, **env) for run_directory in directories]
    try:
        outputs = [process.communicate(timeout=240)[0] for process in processes]
    finally:
        for process in processes:
            if process.poll() is None:  # only after a timeout: do not leave it running
                process.kill()
    return Together(
        directories, [(p.returncode, out) for p, out in zip(processes, outputs, strict=True)]
    )


def _records(together: Together) -> list[dict[str, str]]:
    """What each run recorded, once each passed."""
    for returncode, output in together.results:
        assert returncode == 0, output
        assert "1 passed" in output, output
    return [json.loads((directory / "run.json").read_text()) for directory in together.directories]


def _cold_cache_pair(directory: Path, *args: str) -> Together:
    """Two runs at once with a cache of their own in ``directory``; on SQLite, with the user's
    scratch place there too (a launched server's user could not reach it: pytest's is 0700)."""
    env = {} if "postgres" in args else {SCRATCH_ENV: str(directory / "chosen-scratch")}
    return _run_together(directory, 2, *args, "-o", f"cache_dir={directory / 'cache'}", **env)


def _ahead(*args: str) -> Any:
    """A cold-cache pair as fixtures/head_start.py starts it, ahead of the run."""
    return lambda _config, directory, _items: _cold_cache_pair(directory, *args)


def _external_pair(config: pytest.Config, directory: Path, _items: Any, **_fixtures: Any) -> Any:
    """Two runs at once on this run's server as an external one (provisioned by then: the
    ``database_url`` fixture is set up before the head start's thread starts them)."""
    return _run_together(directory, 2, "--postgres-url", admin_url_of(config))


# Two processes at once, started at a serial run's first test on the idle second core: by the
# time these tests come, their runs have ended.
HEAD_START = {
    "sqlite cold cache pair": Ahead(
        needed_by=for_test("test_two_sqlite_runs_at_once_with_a_cold_cache_both_pass"),
        start=_ahead(),
    ),
    "postgres cold cache pair": Ahead(
        needed_by=for_test("test_two_launched_postgres_runs_at_once_with_a_cold_cache_both_pass"),
        start=_ahead("--db", "postgres"),
    ),
    "external server pair": Ahead(
        needed_by=for_test("test_two_runs_at_once_on_one_external_server_both_pass"),
        start=_external_pair,
        fixtures=("database_url",),
    ),
}


def _pair(key: str, tmp_path: Path, *args: str) -> tuple[Path, list[dict[str, str]]]:
    """The cold-cache pair ``key``: started ahead, or now; its folder and what each run recorded."""
    together = HEAD.take(key) or _cold_cache_pair(tmp_path, *args)
    return together.directories[0].parent, _records(together)


def _assert_nothing_left(runs: list[dict[str, str]]) -> None:
    for run in runs:
        assert not Path(run["run_dir"]).exists(), run
        assert _processes_mentioning(run["run_dir"]) == [], run


def _assert_no_partial_cache_entries(cache_dir: Path) -> None:
    schema_cache = cache_dir / "d" / "dbharness-schema"
    assert list(schema_cache.iterdir()), "the runs cached no schema"
    assert [path.name for path in schema_cache.iterdir() if ".partial-" in path.name] == []


def test_two_sqlite_runs_at_once_with_a_cold_cache_both_pass(tmp_path: Path) -> None:
    folder, runs = _pair("sqlite cold cache pair", tmp_path)
    # Where the user said: an inner run in a process of its own keeps DBHARNESS_SCRATCH_DIR.
    users_scratch = folder / "chosen-scratch"
    assert all(Path(run["run_dir"]).is_relative_to(users_scratch) for run in runs), runs
    _assert_nothing_left(runs)
    _assert_no_partial_cache_entries(folder / "cache")


@pytest.mark.postgres_only(reason=POSTGRES_SERVERS)
def test_two_launched_postgres_runs_at_once_with_a_cold_cache_both_pass(tmp_path: Path) -> None:
    # A cache of their own: both run initdb and the migrations and race to store the cluster.
    folder, runs = _pair("postgres cold cache pair", tmp_path, "--db", "postgres")
    assert runs[0]["run_dir"] != runs[1]["run_dir"]
    _assert_nothing_left(runs)
    _assert_no_partial_cache_entries(folder / "cache")


@pytest.mark.postgres_only(reason=POSTGRES_SERVERS)
def test_two_runs_at_once_on_one_external_server_both_pass(
    tmp_path: Path, pytestconfig: pytest.Config
) -> None:
    admin_url = admin_url_of(pytestconfig)
    together = HEAD.take("external server pair") or _run_together(
        tmp_path, 2, "--postgres-url", admin_url
    )
    runs = _records(together)
    _assert_nothing_left(runs)
    with _connect(admin_url) as connection:
        for run in runs:
            left = connection.execute(
                "SELECT datname FROM pg_database WHERE starts_with(datname, %s)",
                (f"test_{run['run_id']}_",),
            ).fetchall()
            assert left == [], run


# --- A process that has exited, not yet reaped ---------------------------------------------------


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc (Linux)")
def test_a_process_that_exited_is_not_alive_before_it_is_reaped() -> None:
    # What the sweep waits on when it stops a killed run's server: that server's parent is init
    # by then, which may take a second to reap it, and it must not count as running meanwhile.
    child = subprocess.Popen([sys.executable, "-c", ""])
    try:
        deadline = time.monotonic() + 10
        while Path(f"/proc/{child.pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z":
            assert time.monotonic() < deadline, "the child never exited"
            time.sleep(0.01)
        os.kill(child.pid, 0)  # still there to signal: only its exit status is left
        assert not process_alive(child.pid)
    finally:
        child.wait()
    assert not process_alive(child.pid)
    assert process_alive(os.getpid())


def test_a_run_starts_while_another_runs_directory_vanishes_under_its_sweep(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Runs at once on one machine: the sweep lists a run directory (one without its owner file
    # yet, judged by its age), and its run ends and removes it before the sweep looks at it. That
    # stopped the starting run with "cannot write its scratch files … (No such file or
    # directory)"; the vanished directory is not the sweep's business.
    base = tmp_path / "scratch"
    base.mkdir()
    vanished = base / "run-0000dead"
    real_glob = Path.glob

    def listed_then_gone(self: Path, pattern: str) -> Any:
        return [vanished] if self == base and pattern == "run-*" else real_glob(self, pattern)

    monkeypatch.setattr(Path, "glob", listed_then_gone)
    started = RunDirectory.create(base)
    assert (started.path / "owner.pid").read_text() == str(os.getpid())


# --- A port already taken ------------------------------------------------------------------------


def _take_first_choices(monkeypatch: pytest.MonkeyPatch, port: int, times: int) -> list[int]:
    """Make the harness's first ``times`` port choices ``port``; returns every port it chose."""
    tried: list[int] = []
    choose = port_for.select_random

    def taken_first(*args: Any, **kwargs: Any) -> int:
        tried.append(port if len(tried) < times else choose(*args, **kwargs))
        return tried[-1]

    monkeypatch.setattr(port_for, "select_random", taken_first)
    return tried


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port something else listens on while the test runs."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


@pytest.fixture
def reachable_scratch() -> Iterator[Path]:
    """A scratch place of the test's own that the server's user can reach (pytest's is 0700)."""
    place = Path(tempfile.mkdtemp(prefix="faults-", dir=scratch_base().parent))
    place.chmod(0o755)
    yield place
    shutil.rmtree(place, ignore_errors=True)


@pytest.mark.postgres_only(reason=POSTGRES_SERVERS)
def test_a_taken_port_makes_the_harness_try_another(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, taken_port: int
) -> None:
    write_inner_tests(pytester, RECORDING_TEST)
    tried = _take_first_choices(monkeypatch, taken_port, times=1)
    result = run_inner(pytester, "--db", "postgres")
    result.assert_outcomes(passed=1)
    assert tried[0] == taken_port and taken_port not in tried[1:], tried
    _assert_nothing_left([json.loads((pytester.path / "run.json").read_text())])


@pytest.mark.postgres_only(reason=POSTGRES_SERVERS)
def test_when_every_port_tried_is_taken_the_run_stops_saying_what_to_do(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    taken_port: int,
    reachable_scratch: Path,
) -> None:
    write_inner_tests(pytester, RECORDING_TEST)
    _take_first_choices(monkeypatch, taken_port, times=99)
    result = run_inner(pytester, "--db", "postgres", **{SCRATCH_ENV: str(reachable_scratch)})
    output = output_of(result)
    assert result.ret == pytest.ExitCode.USAGE_ERROR, output
    assert f"port {taken_port} is already in use" in output, output
    assert "--postgres-url" in output, output
    assert "Traceback" not in output, output
    assert list(reachable_scratch.glob("*/run-*")) == []


# --- The scratch place the user chose -----------------------------------------------------------


def test_an_inner_run_in_process_keeps_its_files_in_the_users_scratch_place(
    pytester: pytest.Pytester, users_scratch: Path
) -> None:
    write_inner_tests(pytester, RECORDING_TEST)
    run_inner(pytester).assert_outcomes(passed=1)
    run_dir = Path(json.loads((pytester.path / "run.json").read_text())["run_dir"])
    assert run_dir.is_relative_to(users_scratch), run_dir


# --- A read-only or full scratch place -----------------------------------------------------------


@contextlib.contextmanager
def _tmpfs(where: Path, options: str) -> Iterator[Path]:
    where.mkdir()
    mounted = subprocess.run(
        [shutil.which("mount") or "/bin/mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run([shutil.which("umount") or "/bin/umount", "--lazy", str(where)], check=False)


def _fill(directory: Path) -> None:
    """Take every free byte of the file system."""
    with (directory / "filler").open("wb") as filler:
        os.posix_fallocate(filler.fileno(), 0, shutil.disk_usage(directory).free)
    assert shutil.disk_usage(directory).free == 0


def _assert_stops_saying_what_to_do(result: pytest.RunResult, problem: str) -> None:
    output = output_of(result)
    assert result.ret == pytest.ExitCode.USAGE_ERROR, output
    assert problem in output, output
    assert SCRATCH_ENV in output, output
    assert "Traceback" not in output, output


needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs takes root")


@needs_root
def test_a_read_only_scratch_place_stops_the_run_saying_what_to_do(
    pytester: pytest.Pytester, reachable_scratch: Path
) -> None:
    write_inner_tests(pytester, RECORDING_TEST)
    with _tmpfs(reachable_scratch / "ro", "ro,size=1m") as read_only:
        result = run_inner(pytester, TMPDIR=str(read_only), **{SCRATCH_ENV: str(read_only)})
        _assert_stops_saying_what_to_do(result, "Read-only file system")
        assert list(read_only.iterdir()) == []


@needs_root
@pytest.mark.parametrize(
    ("engine", "fill"),
    [
        ("sqlite", True),
        pytest.param("postgres", False, marks=pytest.mark.postgres_only(reason=POSTGRES_SERVERS)),
    ],
    ids=["sqlite, nothing free", "postgres, 1 MB free"],
)
def test_a_full_scratch_place_stops_the_run_saying_what_to_do(
    pytester: pytest.Pytester, reachable_scratch: Path, engine: str, fill: bool
) -> None:
    write_inner_tests(pytester, RECORDING_TEST)
    with _tmpfs(reachable_scratch / "full", "size=1m") as full:
        if fill:
            _fill(full)
        result = run_inner(pytester, "--db", engine, TMPDIR=str(full), **{SCRATCH_ENV: str(full)})
        _assert_stops_saying_what_to_do(result, "No space left on device")
        assert list(full.glob("*/run-*")) == []
        assert _processes_mentioning(str(full)) == []


@needs_root
@pytest.mark.postgres_only(reason=POSTGRES_SERVERS)
def test_a_scratch_place_the_server_user_cannot_reach_stops_the_run_saying_what_to_do(
    pytester: pytest.Pytester,
) -> None:
    # pytest's own temporary directories are root's, mode 0700: the postgres user cannot enter.
    write_inner_tests(pytester, RECORDING_TEST)
    closed = pytester.path / "closed"
    result = run_inner(pytester, "--db", "postgres", **{SCRATCH_ENV: str(closed)})
    _assert_stops_saying_what_to_do(result, "cannot reach")
    assert list(closed.glob("*/run-*")) == []
