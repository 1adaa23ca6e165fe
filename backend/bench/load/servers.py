"""The servers a load run talks to: a real ``backend serve`` process, and the database behind it."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import port_for
from pytest_dbharness.backends import engine_for_dialect
from pytest_dbharness.backends.postgres_servers import LocalServer
from pytest_dbharness.fixtures.live_server import die_with_parent, stop_process_group
from pytest_dbharness.options import HarnessOptions
from pytest_dbharness.rundir import RunDirectory

ADMIN_USERNAME = "loadadmin"
ADMIN_PASSWORD = "load-admin-password"  # noqa: S105 - a throwaway database on 127.0.0.1
SECRET_KEY = "load-test-signing-key-0123456789abcdef-0123456789abcdef"  # noqa: S105 - throwaway
STARTUP_SECONDS = 60.0


def _backend_command() -> list[str]:
    # The console script beside this interpreter: the same `backend` a user runs.
    script = Path(sys.executable).with_name("backend")
    return (
        [str(script)]
        if script.exists()
        else [sys.executable, "-c", "from backend.cli import main; main()"]
    )


@contextlib.contextmanager
def postgres_database(external_url: str | None) -> Iterator[str]:
    """A PostgreSQL database URL: the given one, or one on a server launched the harness's way."""
    if external_url:
        yield external_url
        return
    run_dir = RunDirectory.create()
    options = HarnessOptions(
        engine=engine_for_dialect("postgresql"),
        postgres_url=None,
        pg_ctl=None,
        pg_user="postgres",
        rebuild_schema=False,
    )
    server: LocalServer | None = None
    try:
        server = LocalServer(options, run_dir)
        address = server.start()
        with address.connect() as connection:
            connection.execute("CREATE DATABASE backend_load")
        yield address.url("backend_load")
    finally:
        if server is not None:
            server.stop()
        run_dir.remove()


@contextlib.contextmanager
def sqlite_data_dir() -> Iterator[Path]:
    """A data directory on disk (like the project's ``data/``), where the default file goes."""
    path = Path(tempfile.mkdtemp(prefix="backend-load-", dir=os.environ.get("BACKEND_LOAD_DIR")))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _environment(data_dir: Path, database_url: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("BACKEND_")}
    env |= {
        "BACKEND_DATA_DIR": str(data_dir),
        "BACKEND_DATABASE_URL": database_url,
        "BACKEND_SECRET_KEY": SECRET_KEY,
    }
    return env


def prepare(data_dir: Path, database_url: str) -> None:
    """Migrate, and create the superuser that creates the workload's users."""
    env = _environment(data_dir, database_url)
    for args in (
        ["migrate"],
        [
            "createsuperuser",
            "--no-input",
            "--username",
            ADMIN_USERNAME,
            "--email",
            "",
            "--password",
            ADMIN_PASSWORD,
        ],
    ):
        subprocess.run(
            [*_backend_command(), *args],
            env=env,
            cwd=data_dir,
            check=True,
            stdout=subprocess.DEVNULL,
        )


@contextlib.contextmanager
def backend_serve(
    data_dir: Path, database_url: str, *, workers: int, settings: dict[str, str] | None = None
) -> Iterator[tuple[str, int]]:
    """``backend serve`` on a free 127.0.0.1 port until the block ends, with ``settings`` added
    to its environment; yields its base URL and its pid."""
    port = port_for.select_random()
    command = [*_backend_command(), "serve", "--host", "127.0.0.1", "--port", str(port)]
    if workers > 1:
        command += ["--workers", str(workers)]
    log = (data_dir / f"serve-{port}.log").open("w")
    # Its own process group, so the uvicorn workers go with it.
    process = subprocess.Popen(
        command,
        env=_environment(data_dir, database_url) | (settings or {}),
        cwd=data_dir,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=die_with_parent,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_healthy(process, base_url, data_dir / f"serve-{port}.log")
        yield base_url, process.pid
    finally:
        stop_process_group(process)
        log.close()


def _wait_until_healthy(process: subprocess.Popen[bytes], base_url: str, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"backend serve exited with {process.returncode}:\n{log.read_text()}"
            )
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{base_url}/health", timeout=2).status_code == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"backend serve did not answer /health in {STARTUP_SECONDS:.0f} s")
