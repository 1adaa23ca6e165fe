"""The PostgreSQL side of the harness: external servers, safety, running as root, clean ends.

These tests start inner pytest runs that launch servers of their own (or use this run's server
as an "external" one), so they run in the PostgreSQL session only. The inner runs are in this
process (``pytester``) except where a signal or a killed process is the point.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pwd
import re
import secrets
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from pytest_dbharness.backends.postgres_servers import ServerAddress
from pytest_dbharness.harness import harness_of
from pytest_dbharness.rundir import scratch_base
from sqlalchemy.engine import make_url

from backend.tests.fixtures.head_start import HEAD, Ahead
from backend.tests.harness.conftest import admin_url_of
from backend.tests.harness.inner import (
    output_of,
    run_inner,
    start_inner,
    stop_inner,
    write_inner_tests,
    write_tests,
)

pytestmark = pytest.mark.postgres_only(reason="launches or reaches PostgreSQL servers of its own")

INNER_TEST_USING_THE_DATABASE = """
async def test_uses_the_database(db_session):
    from sqlalchemy import text
    assert await db_session.scalar(text("SELECT 1")) == 1
"""


@pytest.fixture
def admin_url(pytestconfig: pytest.Config) -> str:
    """This run's server, maintenance database: what an external server URL looks like."""
    return admin_url_of(pytestconfig)


def _address(url: str) -> ServerAddress:
    parsed = make_url(url)
    return ServerAddress(
        parsed.host or "127.0.0.1",
        parsed.port or 5432,
        parsed.username or "postgres",
        parsed.password,
        parsed.database or "postgres",
    )


def _connect(url: str, database: str | None = None) -> psycopg.Connection[Any]:
    return _address(url).connect(database)


@pytest.fixture
def somebody_elses_database(admin_url: str) -> Iterator[str]:
    name = f"precious_{os.getpid()}_{time.monotonic_ns()}"
    with _connect(admin_url) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    with _connect(admin_url, name) as connection:
        connection.execute("CREATE TABLE invoices (id int primary key, amount numeric)")
        connection.execute("INSERT INTO invoices SELECT g, g * 1.5 FROM generate_series(1, 50) g")
    yield name
    with _connect(admin_url) as connection:
        connection.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def _checksum(admin_url: str, database: str) -> str:
    with _connect(admin_url, database) as connection:
        rows = connection.execute("SELECT id, amount FROM invoices ORDER BY id").fetchall()
    return hashlib.sha256(repr(rows).encode()).hexdigest()


def _databases_starting(admin_url: str, prefix: str) -> set[str]:
    with _connect(admin_url) as connection:
        rows = connection.execute(
            "SELECT datname FROM pg_database WHERE starts_with(datname, %s)", (prefix,)
        )
        return {row[0] for row in rows}


def _databases_left_by(admin_url: str, inner_output: str) -> set[str]:
    """The databases the inner run named in its header (``databases test_<run>_*``) still there.

    Compared by the run's own prefix, not as before/after lists of the whole server: this run's
    xdist workers and the other tests here create and drop databases on it meanwhile.
    """
    found = re.search(r"databases (test_[0-9a-f]+_)\*", inner_output)
    assert found, inner_output
    return _databases_starting(admin_url, found.group(1))


def test_a_database_with_data_is_refused_and_left_untouched(
    pytester: pytest.Pytester, admin_url: str, somebody_elses_database: str
) -> None:
    before = _checksum(admin_url, somebody_elses_database)
    url = make_url(admin_url).set(database=somebody_elses_database).render_as_string(False)
    write_inner_tests(pytester, INNER_TEST_USING_THE_DATABASE)
    result = run_inner(pytester, "--postgres-url", url)
    assert result.ret == pytest.ExitCode.USAGE_ERROR, output_of(result)
    assert "never writes to a database it did not create" in output_of(result)
    assert _checksum(admin_url, somebody_elses_database) == before


def test_an_external_server_gets_its_own_databases_and_they_are_dropped(
    pytester: pytest.Pytester, admin_url: str
) -> None:
    write_inner_tests(pytester, INNER_TEST_USING_THE_DATABASE)
    result = run_inner(pytester, "--postgres-url", admin_url, "-v")
    result.assert_outcomes(passed=1)
    assert "external server at" in result.stdout.str()
    assert _databases_left_by(admin_url, result.stdout.str()) == set()


def test_an_unreachable_server_stops_the_run_with_what_to_do(pytester: pytest.Pytester) -> None:
    write_inner_tests(pytester, INNER_TEST_USING_THE_DATABASE)
    result = run_inner(pytester, "--postgres-url", "postgresql://nobody@127.0.0.1:1/postgres")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    output = output_of(result)
    assert "cannot reach the PostgreSQL server at 127.0.0.1:1" in output
    assert "Traceback" not in output


def test_a_missing_pg_ctl_stops_the_run_with_what_to_install(pytester: pytest.Pytester) -> None:
    write_inner_tests(pytester, INNER_TEST_USING_THE_DATABASE)
    result = run_inner(pytester, "--db", "postgres", "--pg-ctl", str(pytester.path / "no-pg_ctl"))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "no such file" in result.stderr.str()


@pytest.mark.skipif(os.geteuid() != 0, reason="only a root run hands the server to another user")
def test_as_root_the_server_runs_as_the_unprivileged_user(pytestconfig: pytest.Config) -> None:
    provisioned = harness_of(pytestconfig).provision()
    pid_file = Path(provisioned.run_dir) / "pg" / "data" / "postmaster.pid"
    if harness_of(pytestconfig).options.postgres_url:
        pytest.skip("this run's server is external: no server was launched, so no user to check")
    assert pid_file.exists(), "the launched server's postmaster.pid is missing"
    postmaster = int(pid_file.read_text().splitlines()[0])
    status = Path(f"/proc/{postmaster}/status").read_text()
    uid = int(next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1])
    assert pwd.getpwuid(uid).pw_name == "postgres"
    # Only the harness's own directory changed hands: its parent is still root's.
    assert Path(provisioned.run_dir).stat().st_uid == 0


def _processes_mentioning(fragment: str) -> list[int]:
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if fragment.encode() in (proc / "cmdline").read_bytes():
                found.append(int(proc.name))
        except OSError:
            continue
    return found


SLOW_INNER_TEST = """
import time
from pathlib import Path
from pytest_dbharness.backends.postgres_servers import ServerAddress
from pytest_dbharness.harness import harness_of

def test_waits(database_url, pytestconfig):
    run_dir = harness_of(pytestconfig).provision().run_dir
    Path("run_dir.txt").write_text(run_dir)
    time.sleep(600)  # until its test signals it: it may be started at the outer run's start
"""


def _start_slow_run(directory: Path) -> subprocess.Popen[str]:
    write_tests(directory, SLOW_INNER_TEST)
    return start_inner(directory, "--db", "postgres")


def _run_dir_of(process: subprocess.Popen[str], directory: Path) -> str:
    """The run directory of a slow run, once its test has provisioned and is waiting."""
    marker = directory / "run_dir.txt"
    deadline = time.monotonic() + 60
    # The inner test creates the file, then writes it: wait for its content, not its existence.
    while not (marker.exists() and marker.read_text()):
        assert process.poll() is None, process.communicate()[0]
        assert time.monotonic() < deadline, "the inner run never reached its test"
        time.sleep(0.1)
    return marker.read_text()


# The tests that interrupt or kill a slow run, by the key of the run each takes.
SLOW_RUN_TESTS = {
    "test_an_interrupted_run_leaves_no_server_or_directory": lambda item: item.callspec.id,
    "test_the_next_run_removes_what_a_killed_run_left": lambda _item: "killed",
}
SlowRuns = dict[str, tuple[subprocess.Popen[str], Path]]


def _needs_a_slow_run(item: pytest.Item) -> bool:
    return isinstance(item, pytest.Function) and item.originalname in SLOW_RUN_TESTS


def _start_slow_runs(config: pytest.Config, directory: Path, items: list[pytest.Item]) -> SlowRuns:
    """The slow runs these tests interrupt or kill, side by side, once each has its server."""
    runs = {}
    for item in items:
        key = SLOW_RUN_TESTS[item.originalname](item)  # type: ignore[attr-defined]
        (directory / key).mkdir()
        runs[key] = (_start_slow_run(directory / key), directory / key)
    for process, run_directory in runs.values():
        with contextlib.suppress(AssertionError):  # its test says what went wrong
            _run_dir_of(process, run_directory)
    return runs


def _stop_slow_runs(runs: SlowRuns) -> None:
    """What a failed test left running is stopped with SIGTERM, so that it cleans up."""
    for process, _directory in runs.values():
        stop_inner(process, 60)


# Started at the run's first test in a serial run (fixtures/head_start.py): each launches a
# server of its own after a second of imports, on the idle second core.
HEAD_START = {
    "postgres slow runs": Ahead(
        needed_by=_needs_a_slow_run,
        start=_start_slow_runs,
        stop=_stop_slow_runs,
    )
}


@pytest.fixture(scope="module")
def slow_runs() -> Iterator[SlowRuns]:
    """The slow runs this run's tests of the module interrupt or kill, started ahead of the run
    (``HEAD_START``) or, in an xdist worker, in each test; each waits until signalled."""
    runs = HEAD.take("postgres slow runs") or {}
    yield runs
    _stop_slow_runs(runs)


def _slow_run(slow_runs: SlowRuns, key: str, tmp_path: Path) -> tuple[subprocess.Popen[str], str]:
    """The slow run ``key``, started ahead or now; and its run directory."""
    process, directory = slow_runs.get(key) or (_start_slow_run(tmp_path), tmp_path)
    return process, _run_dir_of(process, directory)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_an_interrupted_run_leaves_no_server_or_directory(
    tmp_path: Path, sig: int, slow_runs: SlowRuns
) -> None:
    process, run_dir = _slow_run(slow_runs, signal.Signals(sig).name, tmp_path)
    assert _processes_mentioning(run_dir), "the inner run's server should be running"
    os.killpg(process.pid, sig)  # the whole group, as Ctrl-C does
    process.communicate(timeout=60)
    assert not Path(run_dir).exists()
    assert _processes_mentioning(run_dir) == []


def test_the_next_run_removes_what_a_killed_run_left(
    pytester: pytest.Pytester,
    tmp_path_factory: pytest.TempPathFactory,
    slow_runs: SlowRuns,
    admin_url: str,
) -> None:
    process, run_dir = _slow_run(slow_runs, "killed", tmp_path_factory.mktemp("killed"))
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=60)
    assert Path(run_dir).exists() and _processes_mentioning(run_dir), "SIGKILL cannot clean up"
    write_inner_tests(pytester, INNER_TEST_USING_THE_DATABASE)
    # Any next run sweeps the scratch place when it makes its own run directory, whatever its
    # engine: one on this run's server (an external one) spares launching another.
    result = run_inner(pytester, "--postgres-url", admin_url)
    result.assert_outcomes(passed=1)
    assert not Path(run_dir).exists()
    assert _processes_mentioning(run_dir) == []
    assert Path(run_dir).parent == scratch_base()


def test_an_external_server_keeps_the_migrated_template_for_the_next_run(
    pytester: pytest.Pytester, admin_url: str
) -> None:
    write_inner_tests(pytester, INNER_TEST_USING_THE_DATABASE)
    run_inner(pytester, "--postgres-url", admin_url)  # builds it, unless an earlier run did
    result = run_inner(pytester, "--postgres-url", admin_url, "-v")
    result.assert_outcomes(passed=1)
    output = result.stdout.str()
    assert "cache hit (database dbharness_template_" in output
    assert "migrations" not in output.split("database start-up:")[1].splitlines()[0]
    assert _databases_left_by(admin_url, output) == set()
    kept = re.search(r"cache hit \(database (dbharness_template_\w+)\)", output)
    assert kept, output
    with _connect(admin_url) as connection:
        allows_connections, comment = connection.execute(
            "SELECT datallowconn, shobj_description(oid, 'pg_database') FROM pg_database"
            " WHERE datname = %s",
            (kept.group(1),),
        ).fetchone() or (None, None)
    # Nobody can hold it, so no session stops another run's CREATE DATABASE … TEMPLATE.
    assert allows_connections is False
    revision = re.search(r"revision (\S+)", comment or "")
    assert revision and f"revision {revision.group(1)}" in output, (comment, output)


def _marked_database(admin_url: str, name: str, run_id: str | None, created: int = 0) -> None:
    with _connect(admin_url) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
        if run_id is not None:
            comment = f"pytest-dbharness run {run_id} created {created}"
            connection.execute(f"COMMENT ON DATABASE \"{name}\" IS '{comment}'")


def test_an_external_run_sweeps_what_dead_runs_left_and_nothing_else(
    pytester: pytest.Pytester, admin_url: str
) -> None:
    from pytest_dbharness.backends.postgres_external import run_lock_key

    tag = f"{os.getpid() & 0xFFFF:04x}"
    dead, live, unmarked = f"dead{tag}", f"11fe{tag}", f"01d0{tag}"
    names = {
        "dead": f"test_{dead}_gw0",
        "live": f"test_{live}_gw0",
        "unmarked": f"test_{unmarked}_gw0",
    }
    try:
        with _connect(admin_url) as live_run:
            # Locked before its database exists, as a run does: no sweep may take it meanwhile.
            live_run.execute("SELECT pg_advisory_lock(%s)", (run_lock_key(live),))
            _marked_database(admin_url, names["dead"], dead)  # its run is gone: long ago
            _marked_database(admin_url, names["live"], live)  # its run holds the lock
            _marked_database(admin_url, names["unmarked"], None)  # an older harness's
            write_inner_tests(pytester, INNER_TEST_USING_THE_DATABASE)
            result = run_inner(pytester, "--postgres-url", admin_url, "-v")
        result.assert_outcomes(passed=1)
        remaining = _databases_starting(admin_url, "test_")
        assert names["dead"] not in remaining
        assert {names["live"], names["unmarked"]} <= remaining
    finally:
        with _connect(admin_url) as connection:
            for name in names.values():
                connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_runs_sweeping_the_same_dead_run_at_once_each_go_on(
    admin_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each run lists the dead run's databases, then drops them under its lock: another run
    may drop one between the two, and this run then starts anyway."""
    from pytest_dbharness.backends import postgres_external

    tag = f"{os.getpid() & 0xFFFF:04x}"
    dead = f"dead{tag}"
    name = f"test_{dead}_gw1"
    # Made just now, so only this sweep (told to take any age) takes it, not other runs' sweeps.
    _marked_database(admin_url, name, dead, created=int(time.time()))
    monkeypatch.setattr(postgres_external, "SWEEP_MIN_AGE_S", 0)
    drop_listed = postgres_external._drop_if_dead
    raced: list[str] = []

    def another_sweep_first(connection: Any, run_id: str, names: list[str]) -> list[str]:
        if run_id == dead:
            with _connect(admin_url) as other_run:
                other_run.execute(f'DROP DATABASE "{name}"')
            raced.append(run_id)
        return drop_listed(connection, run_id, names)

    monkeypatch.setattr(postgres_external, "_drop_if_dead", another_sweep_first)
    assert name not in postgres_external.sweep_dead_runs(_address(admin_url), f"5eed{tag}")
    assert raced == [dead]
    assert name not in _databases_starting(admin_url, "test_")


def test_an_external_server_keeps_the_newest_templates_and_never_one_a_run_uses(
    admin_url: str,
) -> None:
    from pytest_dbharness.backends.postgres_external import (
        KEPT,
        _template_lock_key,
        prune_kept_templates,
    )

    # Four schema keys' templates, newer than any real one: "1" the oldest, "4" the newest.
    names = {n: f"dbharness_template_{secrets.token_hex(8)}" for n in "1234"}
    later = int(time.time()) + 10_000
    with _connect(admin_url) as connection:
        for n, name in names.items():
            connection.execute(f'CREATE DATABASE "{name}"')
            comment = KEPT.format(revision="0001", kept_at=later + int(n))
            connection.execute(f"COMMENT ON DATABASE \"{name}\" IS '{comment}'")
    run_using_the_oldest = _connect(admin_url)
    try:
        key = _template_lock_key(names["1"])
        run_using_the_oldest.execute("SELECT pg_advisory_lock_shared(%s)", (key,))
        dropped = prune_kept_templates(_address(admin_url), keep=2)
        assert names["2"] in dropped
        left = _databases_starting(admin_url, "dbharness_template_")
        # The two newest stay; so does the oldest, which a run still clones from.
        assert {names["1"], names["3"], names["4"]} <= left
        assert names["2"] not in left
    finally:
        run_using_the_oldest.close()
        with _connect(admin_url) as connection:
            for name in names.values():
                connection.execute(f'DROP DATABASE IF EXISTS "{name}"')
