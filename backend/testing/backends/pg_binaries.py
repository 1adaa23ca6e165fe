"""Finding PostgreSQL's server binaries, and running them as an unprivileged user when we are root."""

from __future__ import annotations

import os
import pwd
import re
import shutil
import subprocess
from pathlib import Path

from backend.testing.options import HarnessConfigError

DEBIAN_LAYOUT = Path("/usr/lib/postgresql")

NOT_FOUND = """PostgreSQL's server binaries (pg_ctl) were not found, so no server can be launched.
Either install them:
  Debian/Ubuntu: sudo apt-get install postgresql   (found in /usr/lib/postgresql/<version>/bin)
  macOS:         brew install postgresql@16        (then: brew link postgresql@16)
or point the harness at them: --pg-ctl /path/to/pg_ctl (env BACKEND_TEST_PG_CTL),
or use a server you already run: --postgres-url postgresql://user:password@localhost:5432/postgres
(env BACKEND_TEST_POSTGRES_URL); the harness then creates and drops its own test_… databases there."""


def find_pg_ctl(explicit: str | None) -> Path:
    """pg_ctl from the option, ``pg_config --bindir``, PATH, then the newest Debian layout."""
    for candidate in _candidates(explicit):
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    raise HarnessConfigError(NOT_FOUND)


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


def pg_ctl_version(pg_ctl: Path) -> str:
    """``15.18`` from ``pg_ctl (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)``."""
    output = subprocess.run(
        [str(pg_ctl), "--version"], capture_output=True, text=True, check=True, timeout=10
    ).stdout
    match = re.search(r"(\d+(?:\.\d+)?)", output)
    if not match:
        raise HarnessConfigError(f"could not read the version of {pg_ctl}: {output!r}")
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
            f"{user_name}), name another one with --pg-user (env BACKEND_TEST_PG_USER), or run "
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
