"""A PostgreSQL server run by ``pg_ctl``, on mirakuru's TCP executor (the one pytest-postgresql uses).

pytest-postgresql's ``PostgreSQLExecutor`` has no public way to do three things the harness needs:
reuse a data directory copied from the cache (it runs initdb again), report initdb's own error
(it raises ``CalledProcessError`` with the output dropped), and keep the data directory when it is
stopped or garbage-collected (its ``__del__`` removes it). Overriding its private ``_run_initdb``,
``_initdb_env`` and ``_timeout`` worked until a release renamed them; this class is the part of it
the harness uses, on mirakuru's public API, so a pytest-postgresql release cannot bypass it.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from pathlib import Path

from mirakuru import TCPExecutor
from mirakuru.exceptions import ProcessFinishedWithError

from pytest_dbharness.options import HarnessConfigError
from pytest_dbharness.rundir import SCRATCH_ENV

# The locale the server and initdb run in: the same on every machine, whatever the shell's.
LOCALE = {"LC_ALL": "C.UTF-8", "LC_CTYPE": "C.UTF-8", "LANG": "C.UTF-8"}
# What initdb says when the scratch place is the problem (the user's to fix, and where).
SCRATCH_PROBLEMS = ("No space left on device", "Read-only file system", "Disk quota exceeded")


class PgCtlServer(TCPExecutor):
    """``pg_ctl start`` in the foreground of mirakuru's port polling; ``pg_ctl stop`` to stop."""

    def __init__(
        self,
        *,
        pg_ctl: str,
        host: str,
        port: int,
        data_dir: Path,
        socket_dir: Path,
        log_file: Path,
        settings: str,
        timeout: int = 60,
    ) -> None:
        self.pg_ctl = pg_ctl
        self.data_dir = data_dir
        self.timeout_seconds = timeout
        server_options = (
            f"-F -p {port} -c log_destination=stderr "
            f"-c logging_collector=off -c unix_socket_directories='{socket_dir}' {settings}"
        )
        # -W: pg_ctl does not poll every 100 ms; mirakuru polls the port more often.
        command = [pg_ctl, "start", "-W", "-D", str(data_dir), "-l", str(log_file)]
        super().__init__(
            [*command, "-o", server_options],
            host,
            port,
            timeout=timeout,
            sleep=0.02,
            envvars=LOCALE,
        )

    def start(self) -> PgCtlServer:
        if not (self.data_dir / "PG_VERSION").exists():  # not seeded from the cache
            self.initdb()
        super().start()
        return self

    def initdb(self) -> None:
        command = [self.pg_ctl, "initdb", "--pgdata", str(self.data_dir)]
        command += ["-o", "--username=postgres --auth=trust"]
        env = {**os.environ, **LOCALE}
        env.pop("PGDATA", None)
        try:
            subprocess.run(
                command,
                env=env,
                timeout=self.timeout_seconds,
                capture_output=True,
                text=True,
                check=True,
            )
        except subprocess.TimeoutExpired:
            raise HarnessConfigError(
                f"initdb did not finish within {self.timeout_seconds} s: {self.pg_ctl}"
            ) from None
        except subprocess.CalledProcessError as error:
            said = (error.stderr or error.stdout or "").strip()
            hint = ""
            if any(problem in said for problem in SCRATCH_PROBLEMS):
                hint = (
                    f"\nThe data directory {self.data_dir} is in the harness's scratch place: "
                    f"free some space there or make it writable, or point {SCRATCH_ENV} at "
                    "another directory (a launched server needs about 50 MB)."
                )
            raise HarnessConfigError(
                f"initdb failed (exit {error.returncode}), so no PostgreSQL server could be "
                f"started. It said:\n{said}{hint}"
            ) from None

    def stop(self, sig: int | None = None, exp_sig: int | None = None) -> PgCtlServer:
        """``pg_ctl stop -m fast``, then mirakuru's own bookkeeping; the data directory stays."""
        subprocess.run(
            [self.pg_ctl, "stop", "-D", str(self.data_dir), "-m", "f"],
            capture_output=True,
            timeout=self.timeout_seconds,
            check=False,
        )
        # pg_ctl start may have exited already: the server was its child, and is stopped.
        with contextlib.suppress(ProcessFinishedWithError):
            super().stop(sig, exp_sig)
        return self
