"""`backend migrate` against a PostgreSQL that is in use: it waits for a lock only as long as
BACKEND_MIGRATION_LOCK_TIMEOUT says, runs a statement only as long as
BACKEND_MIGRATION_STATEMENT_TIMEOUT says, and a revision that gives up leaves the database at the
one before, saying so."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest
from pytest_dbharness.migration_checks import MigrationDriver, script_directory
from sqlalchemy import inspect
from sqlalchemy.engine import make_url

from backend.tests.migrations.test_adopt_django import migrate

TOKEN_GENERATION = "8e5b2a9d4f17"

pytestmark = pytest.mark.postgres_only(reason="lock_timeout and statement_timeout are PostgreSQL's")


@contextmanager
def reading_auth_user(url: str) -> Iterator[psycopg.Connection[Any]]:
    """Another session in the middle of a transaction that read auth_user (ACCESS SHARE held)."""
    conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo) as reader:
        reader.execute("SELECT count(*) FROM auth_user")
        yield reader
        reader.rollback()


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        (
            {"BACKEND_MIGRATION_LOCK_TIMEOUT": "50ms"},
            "canceling statement due to lock timeout (it waited longer than lock_timeout, "
            "50ms, for a lock another session holds; retry when the database is quieter, or set "
            "BACKEND_MIGRATION_LOCK_TIMEOUT, where 0 waits without limit)",
        ),
        (
            {"BACKEND_MIGRATION_LOCK_TIMEOUT": "0", "BACKEND_MIGRATION_STATEMENT_TIMEOUT": "150ms"},
            "canceling statement due to statement timeout (it ran longer than statement_timeout, "
            "150ms; set BACKEND_MIGRATION_STATEMENT_TIMEOUT, where 0 is no limit)",
        ),
    ],
    ids=["lock_timeout", "statement_timeout"],
)
async def test_a_revision_that_waits_too_long_is_rolled_back_and_named(
    empty_database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    settings: dict[str, str],
    expected: str,
) -> None:
    before = script_directory().get_revision(TOKEN_GENERATION).down_revision
    async with MigrationDriver(empty_database_url) as db:
        await db.upgrade(before)
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    # The revision's ADD COLUMN needs ACCESS EXCLUSIVE on auth_user, which the reader blocks.
    with reading_auth_user(empty_database_url):
        code, output = await migrate(empty_database_url, monkeypatch=monkeypatch)
    assert code == 1, output
    assert f"revision {TOKEN_GENERATION} (A per-user token generation" in output
    assert expected in output
    assert (
        f"the database stays at revision {before}: fix the cause and run `backend migrate`"
        in output
    )
    async with MigrationDriver(empty_database_url) as db:
        assert await db.current() == before
        columns = await db.run(
            lambda c: {col["name"] for col in inspect(c).get_columns("auth_user")}
        )
    assert "token_generation" not in columns


async def test_with_no_other_session_in_the_way_the_upgrade_completes_within_them(
    empty_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BACKEND_MIGRATION_LOCK_TIMEOUT", "200ms")
    code, output = await migrate(empty_database_url, monkeypatch=monkeypatch)
    assert code == 0, output
    async with MigrationDriver(empty_database_url) as db:
        assert await db.current() == script_directory().get_current_head()
