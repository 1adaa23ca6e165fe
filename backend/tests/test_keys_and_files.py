"""The signing key and the files holding secrets: weak production keys refused, the development
key made atomically and privately, the SQLite files readable by their owner only."""

from __future__ import annotations

import multiprocessing
import secrets
import stat
from pathlib import Path

import pytest
from pydantic import ValidationError
from sqlalchemy import text

from backend.config import Environment, Settings
from backend.db import create_engine
from backend.secrets_files import private_sqlite_file, read_or_create_key

WEAK_KEYS = {
    "empty": "",
    "one letter": "a",
    "a word": "hunter2",
    "three spaces": "   ",
    "31 random bytes": secrets.token_urlsafe(48)[:31],
    "one character repeated": "a" * 64,
    "two characters alternating": "ab" * 32,
    "a word repeated": "password" * 6,
    "digits counted over and over": "0123456789" * 5,
}


def production(key: str) -> Settings:
    return Settings(environment=Environment.PRODUCTION, secret_key=key, _env_file=None)


@pytest.mark.parametrize("key", WEAK_KEYS.values(), ids=WEAK_KEYS.keys())
def test_production_refuses_a_weak_key_and_says_how_to_make_one(key: str) -> None:
    with pytest.raises(ValidationError) as raised:
        production(key)
    message = str(raised.value)
    assert "BACKEND_SECRET_KEY" in message
    assert 'python -c "import secrets; print(secrets.token_urlsafe(48))"' in message


# Fixed ids: xdist workers collect separately, and random values would name different tests.
@pytest.mark.parametrize(
    "key", [secrets.token_urlsafe(48), secrets.token_hex(32)], ids=["token_urlsafe", "token_hex"]
)
def test_production_accepts_a_random_key(key: str) -> None:
    assert production(key).signing_key == key


def _make_key(key_file: str, start: object, results: object) -> None:
    start.wait()  # type: ignore[attr-defined]
    results.put(read_or_create_key(Path(key_file)))  # type: ignore[attr-defined]


def _watch_key(key_file: str, start: object, results: object) -> None:
    start.wait()  # type: ignore[attr-defined]
    seen = set()
    for _ in range(3000):
        try:
            seen.add(Path(key_file).read_text())
        except FileNotFoundError:
            continue
    results.put(seen)  # type: ignore[attr-defined]


def test_processes_racing_to_make_the_development_key_all_get_the_same_full_key(
    tmp_path: Path,
) -> None:
    key_file = str(tmp_path / "data" / "secret_key")
    context = multiprocessing.get_context("fork")
    start, made, watched = context.Event(), context.Queue(), context.Queue()
    makers = [context.Process(target=_make_key, args=(key_file, start, made)) for _ in range(8)]
    watcher = context.Process(target=_watch_key, args=(key_file, start, watched))
    for process in [*makers, watcher]:
        process.start()
    start.set()
    keys = {made.get(timeout=60) for _ in makers}
    seen_by_reader = watched.get(timeout=60)
    for process in [*makers, watcher]:
        process.join(timeout=60)
    assert len(keys) == 1 and len(keys.pop()) >= 64
    assert all(len(text) >= 64 for text in seen_by_reader), seen_by_reader  # never empty/partial
    assert stat.S_IMODE(Path(key_file).stat().st_mode) == 0o600
    assert stat.S_IMODE(Path(key_file).parent.stat().st_mode) == 0o700
    assert [p.name for p in Path(key_file).parent.iterdir()] == ["secret_key"]  # no temp left


def test_the_data_directory_is_made_private_even_if_it_existed(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    data.chmod(0o755)
    settings = Settings(environment=Environment.DEVELOPMENT, data_dir=data, _env_file=None)
    assert settings.signing_key
    assert settings.resolved_database_url.endswith("backend.sqlite3")
    assert stat.S_IMODE(data.stat().st_mode) == 0o700


@pytest.mark.sqlite_only(reason="only SQLite keeps the database in files the app creates")
async def test_the_sqlite_database_and_its_wal_files_are_private(tmp_path: Path) -> None:
    database = tmp_path / "new-data" / "backend.sqlite3"
    engine = create_engine(f"sqlite+aiosqlite:///{database}")
    try:
        async with engine.begin() as connection:
            await connection.execute(text("CREATE TABLE t (x INTEGER)"))
            await connection.execute(text("INSERT INTO t VALUES (1)"))
        async with engine.connect() as connection:
            await connection.execute(text("SELECT * FROM t"))
            files = sorted(database.parent.iterdir())
            assert {f.name for f in files} >= {"backend.sqlite3", "backend.sqlite3-wal"}
            modes = {f.name: oct(stat.S_IMODE(f.stat().st_mode)) for f in files}
            assert set(modes.values()) == {"0o600"}, modes
    finally:
        await engine.dispose()
    assert stat.S_IMODE(database.parent.stat().st_mode) == 0o700


def test_existing_database_files_readable_by_others_are_made_private(tmp_path: Path) -> None:
    database = tmp_path / "old.sqlite3"
    for path in (database, Path(f"{database}-wal"), Path(f"{database}-shm")):
        path.write_bytes(b"")
        path.chmod(0o644)
    private_sqlite_file(database)
    for path in (database, Path(f"{database}-wal"), Path(f"{database}-shm")):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
