"""The development signing key file and the SQLite files: private to their owner from the start.

The key file is written to a private temporary file and linked into place, so a reader sees no
file or the whole key, never an empty or partial one; when two processes race, the first link
wins and both use its key.
"""

from __future__ import annotations

import contextlib
import math
import os
import secrets
from collections import Counter
from pathlib import Path

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600
MIN_SECRET_BYTES = 32
HOW_TO_MAKE_A_KEY = 'python -c "import secrets; print(secrets.token_urlsafe(48))"'


def secret_key_problem(key: str) -> str | None:
    """Why a key is unfit to sign tokens in production, or None.

    Short keys and visibly patterned ones (one repeated character, "abababab…", a word typed over
    and over) can be cracked from any token, after which tokens for any user can be forged.
    """
    if len(key.encode()) < MIN_SECRET_BYTES:
        return f"it is {len(key.encode())} bytes long; at least {MIN_SECRET_BYTES} are needed"
    counts = Counter(key)
    bits_per_char = -sum(n / len(key) * math.log2(n / len(key)) for n in counts.values())
    if len(counts) < 10 or bits_per_char < 3.0 or _repeats(key):
        return "it is visibly not random (too few distinct characters, or a repeated pattern)"
    return None


def _repeats(key: str) -> bool:
    """Whether the key is a shorter piece typed over and over ("0123456789012345…")."""
    return any(
        all(key[i] == key[i % period] for i in range(len(key)))
        for period in range(1, len(key) // 2 + 1)
    )


def private_dir(path: Path) -> None:
    """Create the directory 0700, or take group and other access away from an existing one."""
    path.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    if path.stat().st_mode & 0o077:
        path.chmod(PRIVATE_DIR)


def read_or_create_key(key_file: Path) -> str:
    """The key in ``key_file``, made (atomically, 0600) if there is none yet."""
    private_dir(key_file.parent)
    with contextlib.suppress(FileNotFoundError):
        return _read_key(key_file)
    temporary = key_file.with_name(f".{key_file.name}.{os.getpid()}.{secrets.token_hex(4)}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
    try:
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_urlsafe(48))
            handle.flush()
            os.fsync(handle.fileno())
        # link() fails if the name exists: whoever linked first wins, nobody overwrites.
        with contextlib.suppress(FileExistsError):
            os.link(temporary, key_file)
    finally:
        temporary.unlink(missing_ok=True)
    return _read_key(key_file)


def _read_key(key_file: Path) -> str:
    key = key_file.read_text().strip()
    if not key:
        raise RuntimeError(
            f"the key file {key_file} is empty: delete it and restart to make a new one "
            "(every token signed with the old key stops working)"
        )
    return key


def private_sqlite_file(database: Path) -> None:
    """Create the SQLite file 0600 before SQLite does (its -wal and -shm files copy its mode).

    An existing file, and its -wal and -shm, are made 0600 too: they hold password hashes.
    """
    if not database.parent.exists():
        private_dir(database.parent)
    # Never open an existing database: closing any descriptor of a file drops every POSIX lock this
    # process holds on it, so another connection's SQLite locks would silently go (seen as "disk I/O
    # error" when a second engine was made on a database already open in the same process).
    with contextlib.suppress(FileExistsError):
        os.close(os.open(database, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE))
    for path in (database, Path(f"{database}-wal"), Path(f"{database}-shm")):
        with contextlib.suppress(FileNotFoundError):
            if path.stat().st_mode & 0o077:
                path.chmod(PRIVATE_FILE)
