"""A database that Django created is adopted by `backend migrate --adopt-django`, upgraded to
head, and its users log in with their Django passwords."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import httpx
import psycopg
import pytest
from pytest_dbharness.migration_checks import MigrationDriver, revisions_base_to_head
from sqlalchemy import text
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from backend.app import create_app
from backend.cli import app as cli
from backend.config import Environment, Settings

DATA = Path(__file__).parent / "data"
DJANGO_USERS = {"ada": "difference-engine-1843", "grace": "cobol-1959-compiler"}


def create_django_database(url: str) -> None:
    """Run the DDL (and rows) Django wrote, for this URL's engine."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        with sqlite3.connect(str(parsed.database)) as connection:
            connection.executescript((DATA / "django_auth_sqlite.sql").read_text())
        return
    with psycopg.connect(
        host=parsed.host,
        port=parsed.port,
        user=parsed.username,
        password=parsed.password,
        dbname=parsed.database,
        autocommit=True,
    ) as connection:
        connection.execute((DATA / "django_auth_postgresql.sql").read_text())  # type: ignore[arg-type]


async def migrate(url: str, *args: str, monkeypatch: pytest.MonkeyPatch) -> tuple[int, str]:
    """`backend migrate …` on that database; in a thread, since the command runs its own loop."""
    monkeypatch.setenv("BACKEND_DATABASE_URL", url)
    result = await asyncio.to_thread(CliRunner().invoke, cli, ["migrate", *args])
    return result.exit_code, result.stdout + result.stderr


async def test_a_django_database_is_adopted_and_its_users_log_in(
    empty_database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    create_django_database(empty_database_url)
    code, output = await migrate(empty_database_url, "--adopt-django", monkeypatch=monkeypatch)
    assert code == 0, output
    head = revisions_base_to_head()[-1].revision
    assert f"upgraded to {head}" in output

    settings = Settings(
        environment=Environment.TEST,
        database_url=empty_database_url,
        data_dir=tmp_path,
        secret_key="adoption-test-key-0123456789abcdef0123456789",
        _env_file=None,
    )
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver"
        ) as client,
    ):
        for username, password in DJANGO_USERS.items():
            response = await client.post(
                "/auth/token", data={"username": username, "password": password}
            )
            assert response.status_code == 200, (username, response.text)
        health = await client.get("/health")
        assert health.json()["revision"] == head

    async with MigrationDriver(empty_database_url) as db:
        hashes = await db.run(
            lambda c: (
                c.execute(text("SELECT password FROM auth_user ORDER BY username")).scalars().all()
            )
        )
    assert all(stored.startswith("$argon2") for stored in hashes), "logins upgrade the hashes"


async def test_a_database_whose_auth_user_differs_is_refused_untouched(
    empty_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    create_django_database(empty_database_url)
    async with MigrationDriver(empty_database_url) as db:
        # Django before 1.10 had 30-character usernames: such a table is not our baseline.
        await db.run(lambda c: c.execute(text("DROP TABLE auth_user_groups")))
        await db.run(lambda c: c.execute(text("DROP TABLE auth_user_user_permissions")))
        await db.run(lambda c: c.execute(text("ALTER TABLE auth_user DROP COLUMN last_name")))
        before = await db.schema()
    code, output = await migrate(empty_database_url, "--adopt-django", monkeypatch=monkeypatch)
    assert code == 1
    assert "cannot be adopted (nothing was changed): column last_name is missing" in output
    async with MigrationDriver(empty_database_url) as db:
        assert await db.current() is None
        assert await db.schema() == before


async def test_adoption_refuses_a_database_that_is_not_djangos(
    empty_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, output = await migrate(empty_database_url, "--adopt-django", monkeypatch=monkeypatch)
    assert code == 1
    assert "there is no auth_user table" in output


async def test_adoption_refuses_a_database_already_migrated(
    empty_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with MigrationDriver(empty_database_url) as db:
        await db.upgrade("head")
    code, output = await migrate(empty_database_url, "--adopt-django", monkeypatch=monkeypatch)
    assert code == 1
    assert "already managed by these migrations" in output
