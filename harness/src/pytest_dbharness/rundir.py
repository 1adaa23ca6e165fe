"""Per-run scratch directories on tmpfs when possible, and the sweep of runs that died.

Each run owns ``<base>/run-<id>/`` with an ``owner.pid`` file. A run killed with SIGKILL cannot
clean up after itself, so every run first sweeps directories whose owner is gone: it stops any
PostgreSQL server still running from them and removes them.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from pytest_dbharness.options import HarnessConfigError

# A launched server needs about 40 MB plus 7.5 MB per database; leave room to spare.
TMPFS_MIN_FREE_BYTES = 256 * 1024 * 1024
SCRATCH_ENV = "DBHARNESS_SCRATCH_DIR"


def scratch_base() -> Path:
    """``$DBHARNESS_SCRATCH_DIR`` when set; else ``/dev/shm`` when it has room to spare
    (several times faster here), else the temp dir."""
    mine = f"dbharness-{os.getuid()}"
    if os.environ.get(SCRATCH_ENV):
        return Path(os.environ[SCRATCH_ENV]) / mine
    shm = Path("/dev/shm")  # noqa: S108 - a per-user directory inside it, created 0755 by us
    if shm.is_dir() and os.access(shm, os.W_OK):
        with contextlib.suppress(OSError):
            if shutil.disk_usage(shm).free >= TMPFS_MIN_FREE_BYTES:
                return shm / mine
    return Path(tempfile.gettempdir()) / mine


@dataclass(frozen=True)
class RunDirectory:
    path: Path
    run_id: str

    @classmethod
    def create(cls, base: Path | None = None) -> RunDirectory:
        run_dir = cls.planned(base)
        run_dir.make()
        return run_dir

    @classmethod
    def planned(cls, base: Path | None = None) -> RunDirectory:
        """Where the run's directory will be, before it exists: a holder that an interrupt can
        clean up while ``make`` is still writing it (``remove`` takes it in any state)."""
        run_id = secrets.token_hex(4)
        return cls(path=(base or scratch_base()) / f"run-{run_id}", run_id=run_id)

    def make(self) -> None:
        base = self.path.parent
        try:
            base.mkdir(mode=0o755, parents=True, exist_ok=True)
            with contextlib.suppress(OSError):  # best effort: the next run sweeps again
                sweep_leftovers(base)
            self.path.mkdir(mode=0o755)
            (self.path / "owner.pid").write_text(str(os.getpid()))
        except OSError as error:
            shutil.rmtree(self.path, ignore_errors=True)
            raise cannot_write(base, error.strerror or str(error)) from None

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)

    def explain(self, error: OSError) -> HarnessConfigError | None:
        """What to do about ``error`` when it is a failure to write in the scratch place."""
        # shutil.copytree gathers one (source, target, reason) per file it could not copy.
        failed: list[tuple[str, str, str]] = (
            error.args[0] if isinstance(error, shutil.Error) else []
        )
        targets: list[tuple[object, str | None]] = [(dst, why) for _src, dst, why in failed]
        targets.append((error.filename, error.strerror))
        base = self.path.parent
        for target, reason in targets:
            if isinstance(target, str) and Path(target).is_relative_to(base):
                return cannot_write(base, reason or str(error))
        return None


def cannot_write(base: Path, reason: str) -> HarnessConfigError:
    return HarnessConfigError(
        f"the harness cannot write its scratch files in {base} ({reason}). Free some space there "
        "or make it writable (a launched PostgreSQL server needs about 50 MB), or point "
        f"{SCRATCH_ENV} at another directory."
    )


def process_alive(pid: int) -> bool:
    """Whether a process with this pid runs (one of another user counts; one that has exited and
    waits to be reaped does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return not _exited_unreaped(pid)


def _exited_unreaped(pid: int) -> bool:
    """A zombie: exited, its parent not having collected it yet. A server whose run was killed
    belongs to init then, which may take a second to reap it (measured here: SIGQUIT stopped a
    postmaster in 5 ms and ``kill(pid, 0)`` still found it for about a second)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:  # gone meanwhile, or no /proc (not Linux): kill's answer stands
        return False
    return stat.rpartition(")")[2].split()[:1] == ["Z"]


def _owner_alive(run_path: Path) -> bool:
    try:
        return process_alive(int((run_path / "owner.pid").read_text().strip()))
    except (OSError, ValueError):
        pass
    # No readable owner file: a run still being created, or debris; judge by age.
    try:
        return time.time() - run_path.stat().st_mtime < 60
    except FileNotFoundError:
        return True  # gone meanwhile (its run ended, or another sweep claimed it): not ours


def stop_orphaned_server(data_dir: Path) -> None:
    """Immediate shutdown (SIGQUIT) of the postmaster that runs from ``data_dir``, if any."""
    try:
        pid = int((data_dir / "postmaster.pid").read_text().splitlines()[0])
    except (OSError, ValueError, IndexError):
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signal.SIGQUIT)
        for _ in range(50):
            if not process_alive(pid):
                return
            time.sleep(0.1)
        os.kill(pid, signal.SIGKILL)


def sweep_leftovers(base: Path) -> None:
    """Remove the run directories of runs that no longer exist.

    Runs start concurrently, so a sweeper first claims a dead run's directory by renaming it
    (only one rename can win) and then destroys it at leisure.
    """
    for run_path in base.glob("run-*"):
        if _owner_alive(run_path):
            continue
        claimed = base / f"swept-{run_path.name}-{os.getpid()}"
        try:
            os.rename(run_path, claimed)
        except OSError:
            continue  # another run claimed it first
        _destroy(claimed)
    for claimed in base.glob("swept-*"):
        claimer = claimed.name.rsplit("-", 1)[-1]
        if claimer.isdigit() and not process_alive(int(claimer)):
            _destroy(claimed)


def _destroy(run_path: Path) -> None:
    with contextlib.suppress(OSError):
        for pid_file in list(run_path.glob("**/postmaster.pid")):
            stop_orphaned_server(pid_file.parent)
    shutil.rmtree(run_path, ignore_errors=True)


def stop_processes_naming(run_path: Path) -> None:
    """After an interrupt: the run's server (and anything else whose command line names the run's
    directory: pg_ctl, its privilege-dropping wrapper) is stopped, however far its start got.

    A server whose pid file is written stops as the sweep stops it; one caught between its start
    and its pid file is found by its command line (Linux's /proc; elsewhere the next run sweeps).
    """
    for pid_file in run_path.glob("**/postmaster.pid"):
        stop_orphaned_server(pid_file.parent)
    needle = str(run_path).encode()
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            named = needle in (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if named and int(proc.name) != os.getpid():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(int(proc.name), signal.SIGKILL)
