"""Where the PostgreSQL server comes from: launched here with pg_ctl, or an external one by URL."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import port_for
import psycopg
from mirakuru.exceptions import AlreadyRunning, ExecutorError
from sqlalchemy.engine import URL, make_url

from pytest_dbharness.backends.pg_binaries import (
    copy_for,
    find_server_binaries,
    hand_over,
    reachable_by,
    server_account,
    write_privilege_dropping_wrapper,
)
from pytest_dbharness.backends.pg_ctl import PgCtlServer
from pytest_dbharness.options import HarnessConfigError, HarnessOptions
from pytest_dbharness.rundir import SCRATCH_ENV, RunDirectory

# A throwaway cluster needs no durability; these cut start-up and per-test I/O.
THROWAWAY_SETTINGS = (
    "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
    # PostgreSQL's default connection limit: every served process under test keeps a pool.
    "-c listen_addresses=127.0.0.1 -c max_connections=100"
)
START_ATTEMPTS = 3


@dataclass(frozen=True)
class ServerAddress:
    host: str
    port: int
    user: str
    password: str | None
    maintenance_db: str

    def url(self, database: str) -> str:
        return URL.create(
            "postgresql+psycopg",
            username=self.user,
            password=self.password,
            host=self.host,
            port=self.port,
            database=database,
        ).render_as_string(hide_password=False)

    def connect(self, database: str | None = None, **kwargs: Any) -> psycopg.Connection[Any]:
        return psycopg.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password,
            dbname=database or self.maintenance_db,
            autocommit=True,
            **kwargs,
        )


class LocalServer:
    """A server this run launches with pg_ctl, in its own run directory, stopped at the end."""

    def __init__(self, options: HarnessOptions, run_dir: RunDirectory) -> None:
        binaries = find_server_binaries(options)
        self.home = run_dir.path / "pg"
        self.data_dir = self.home / "data"
        self.home.mkdir(mode=0o700)
        self.account = server_account(options.pg_user) if os.geteuid() == 0 else None
        if self.account is not None and not reachable_by(run_dir.path, self.account):
            raise HarnessConfigError(
                f"the server runs as {self.account.pw_name}, which cannot reach the run directory "
                f"{run_dir.path} (a directory above it is closed to that user, e.g. mode 0700). "
                f"Point {SCRATCH_ENV} at a place it can reach, such as /tmp, or leave it unset."
            )
        if self.account is not None and not reachable_by(binaries.pg_ctl, self.account):
            binaries = copy_for(binaries, run_dir.path.parent, self.account)
        self.binaries = binaries
        self.pg_ctl = binaries.pg_ctl
        self.version = binaries.version
        executable = self.pg_ctl
        if self.account is not None:
            executable = write_privilege_dropping_wrapper(self.pg_ctl, run_dir.path, self.account)
            hand_over(self.home, self.account)
        self.executable = executable
        self.executor: PgCtlServer | None = None
        self.address: ServerAddress | None = None

    def describe(self) -> str:
        runs_as = f", running as {self.account.pw_name}" if self.account else ""
        return f"launched with {self.pg_ctl} ({self.binaries.origin}){runs_as}, data in {self.data_dir}"

    def seed_data_dir(self, cached: Path) -> None:
        """Start from a cached cluster instead of running initdb."""
        shutil.copytree(cached, self.data_dir, symlinks=True, dirs_exist_ok=True)
        if self.account is not None:
            hand_over(self.home, self.account)

    def snapshot_data_dir(self, target: Path) -> None:
        """Copy the stopped cluster to ``target`` atomically (another run may race for it)."""
        partial = target.with_name(f"{target.name}.partial-{os.getpid()}")
        shutil.rmtree(partial, ignore_errors=True)
        shutil.copytree(self.data_dir, partial, symlinks=True)
        try:
            os.rename(partial, target)
        except OSError:
            shutil.rmtree(partial, ignore_errors=True)

    def start(self) -> ServerAddress:
        failures: list[str] = []
        for _attempt in range(START_ATTEMPTS):
            port = port_for.select_random()
            self.executor = PgCtlServer(
                pg_ctl=str(self.executable),
                host="127.0.0.1",
                port=port,
                data_dir=self.data_dir,
                socket_dir=self.home,
                log_file=self.home / "postgresql.log",
                settings=THROWAWAY_SETTINGS,
            )
            try:
                self.executor.start()
            except AlreadyRunning:  # something else listens there; nothing was started
                failures.append(f"port {port} is already in use")
                self.executor = None
                continue
            except ExecutorError as error:  # a port taken between choice and bind, most often
                failures.append(f"port {port}: {type(error).__name__}")
                self._stop_quietly()
                continue
            self.address = ServerAddress("127.0.0.1", port, "postgres", None, "postgres")
            _wait_until_accepting(self.address)
            return self.address
        log_file = self.home / "postgresql.log"
        log = log_file.read_text(errors="replace")[-2000:] if log_file.exists() else ""
        raise HarnessConfigError(
            f"PostgreSQL did not start after {START_ATTEMPTS} attempts ({'; '.join(failures)}). "
            "Ports are chosen at random, so running again usually works; if many ports are "
            "taken, stop what holds them, or use a server you run with --postgres-url URL."
            + (f" The server's log ends with:\n{log}" if log else "")
        )

    def stop(self) -> None:
        if self.executor is not None:
            self._stop_quietly()
            self.executor = None

    def _stop_quietly(self) -> None:
        assert self.executor is not None
        # pg_ctl stop fails (CalledProcessError) when the server never started, e.g. when the
        # port was found taken before starting: that is not a reason to stop trying.
        with contextlib.suppress(ExecutorError, OSError, subprocess.SubprocessError):
            self.executor.stop()


def _wait_until_accepting(address: ServerAddress, timeout: float = 30.0) -> None:
    """The port opens before the server accepts sessions ("the database system is starting up")."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            address.connect(connect_timeout=2).close()
            return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)


class ExternalServer:
    """A server someone else runs; the harness only creates and drops its own databases there."""

    def __init__(self, url: str) -> None:
        parsed = make_url(url.replace("postgres://", "postgresql://", 1))
        if not parsed.get_backend_name().startswith("postgresql"):
            raise HarnessConfigError(f"--postgres-url must be a postgresql:// URL, not {url!r}")
        self.named_database = parsed.database
        self.address = ServerAddress(
            host=parsed.host or "localhost",
            port=parsed.port or 5432,
            user=parsed.username or os.environ.get("USER", "postgres"),
            password=parsed.password,
            maintenance_db=parsed.database or "postgres",
        )

    def describe(self) -> str:
        return f"external server at {self.address.host}:{self.address.port}"

    def start(self) -> ServerAddress:
        try:
            with self.address.connect(connect_timeout=5) as connection:
                self._refuse_unsafe_database(connection)
                self._require_createdb(connection)
        except psycopg.OperationalError as error:
            reason = (
                str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            )
            raise HarnessConfigError(
                f"cannot reach the PostgreSQL server at {self.address.host}:{self.address.port} "
                f"given by --postgres-url ({reason}). Check that it runs and that the URL is right, "
                "or leave --postgres-url out to let the harness launch its own server."
            ) from None
        return self.address

    def _refuse_unsafe_database(self, connection: psycopg.Connection[Any]) -> None:
        # Tests never touch a database the harness did not create (Django's and Rails' rule).
        # The URL's database is only used to issue CREATE/DROP DATABASE; one holding tables is
        # somebody's data, and a URL pointing at it is almost certainly a mistake.
        row = connection.execute(
            "SELECT count(*) FROM pg_tables "
            "WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"
        ).fetchone()
        tables = row[0] if row else 0
        if tables:
            raise HarnessConfigError(
                f"--postgres-url names the database {self.named_database!r}, which holds {tables} "
                "tables. The harness never writes to a database it did not create, and leaves this "
                "one untouched. Point the URL at the server's maintenance database instead (…/postgres); "
                "the harness creates and drops its own test_… databases."
            )

    @staticmethod
    def _require_createdb(connection: psycopg.Connection[Any]) -> None:
        row = connection.execute(
            "SELECT rolcreatedb OR rolsuper, current_user FROM pg_roles WHERE rolname = current_user"
        ).fetchone()
        if row and not row[0]:
            raise HarnessConfigError(
                f"the role {row[1]!r} in --postgres-url may not create databases; grant it "
                f"(ALTER ROLE {row[1]} CREATEDB) or use a role that may"
            )

    def stop(self) -> None:
        """Not ours to stop."""


def server_version(address: ServerAddress) -> str:
    with address.connect() as connection:
        row = connection.execute("SHOW server_version").fetchone()
    return f"PostgreSQL {row[0] if row else '?'}"
