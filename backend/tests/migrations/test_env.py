"""alembic/env.py migrates through whatever Alembic's conventions hand it (issue 12, point 10)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy import inspect
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.pool import NullPool

from alembic import command
from backend.db import create_engine
from backend.migrations import alembic_config, current_revision, head_revision


def sync_url(url: str) -> str:
    parsed = make_url(url)
    driver = "sqlite" if parsed.get_backend_name() == "sqlite" else "postgresql+psycopg"
    return parsed.set(drivername=driver).render_as_string(hide_password=False)


def upgrade_with(handed: object) -> None:
    config = alembic_config()
    config.attributes["connection"] = handed
    command.upgrade(config, "head")


def tables_and_revision(url: str) -> tuple[bool, str | None]:
    engine = create_sync_engine(sync_url(url), poolclass=NullPool)
    try:
        with engine.connect() as connection:
            return inspect(connection).has_table("auth_user"), current_revision(connection)
    finally:
        engine.dispose()


def through_sync_engine(url: str) -> None:
    engine = create_sync_engine(sync_url(url), poolclass=NullPool)
    try:
        upgrade_with(engine)
    finally:
        engine.dispose()


def through_sync_connection(url: str) -> None:
    engine = create_sync_engine(sync_url(url), poolclass=NullPool)
    try:
        with engine.connect() as connection:
            upgrade_with(connection)
            connection.commit()
    finally:
        engine.dispose()


def through_async_engine(url: str) -> None:
    engine = create_engine(url, poolclass=NullPool)
    try:
        upgrade_with(engine)
    finally:
        engine.sync_engine.dispose()


async def through_async_connection(url: str) -> None:
    engine = create_engine(url, poolclass=NullPool)
    try:
        async with engine.connect() as connection:

            def upgrade(_sync: Connection, handed: AsyncConnection = connection) -> None:
                upgrade_with(handed)

            await connection.run_sync(upgrade)
            await connection.commit()
    finally:
        await engine.dispose()


@pytest.mark.parametrize(
    "migrate",
    [through_sync_engine, through_sync_connection, through_async_engine],
    ids=["sync Engine", "sync Connection", "AsyncEngine"],
)
def test_env_migrates_through_what_it_is_handed(
    empty_database_url: str, migrate: Callable[[str], None]
) -> None:
    migrate(empty_database_url)
    assert tables_and_revision(empty_database_url) == (True, head_revision())


async def test_env_migrates_through_an_async_connection_inside_run_sync(
    empty_database_url: str,
) -> None:
    await through_async_connection(empty_database_url)
    assert tables_and_revision(empty_database_url) == (True, head_revision())


def test_env_refuses_what_is_not_a_connection_or_engine_saying_what_it_takes() -> None:
    with pytest.raises(TypeError, match="must be a Connection or an Engine, sync or async"):
        upgrade_with("sqlite:///not-a-connection")


@pytest.mark.filterwarnings(
    "ignore:Skipped unsupported reflection of expression-based index:sqlalchemy.exc.SAWarning"
)
async def test_autocommit_blocks_stay_inside_a_transaction_the_caller_holds(
    empty_database_url: str,
) -> None:
    # Two revisions use autocommit blocks (e71f0a9b3c35's concurrent index, 8e5b2a9d4f17's
    # batches): handed a connection in a transaction of its own, all of it stays the caller's.
    engine = create_engine(empty_database_url, poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_upgrade_inside_a_transaction_then_roll_back)
    finally:
        await engine.dispose()
    assert tables_and_revision(empty_database_url) == (False, None)


def _upgrade_inside_a_transaction_then_roll_back(connection: Connection) -> None:
    connection.begin()
    upgrade_with(connection)
    # SQLite's reflection leaves expression indexes out (and warns): ask its catalog there.
    indexes = {index["name"] for index in inspect(connection).get_indexes("auth_user")}
    if connection.dialect.name == "sqlite":
        indexes = set(connection.exec_driver_sql("SELECT name FROM sqlite_master").scalars())
    assert "uq_auth_user_email_lower" in indexes
    assert current_revision(connection) == head_revision()
    connection.rollback()


@pytest.mark.sqlite_only(
    reason="SQLite's driver handles its transactions itself unless told not to"
)
async def test_an_autocommit_block_on_sqlite_commits_each_statement_and_hands_back_transactions(
    tmp_path: Path,
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'autocommit.sqlite3'}"
    engine = create_engine(url, poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_autocommit_then_transaction, url)
    finally:
        await engine.dispose()


def _autocommit_then_transaction(connection: Connection, url: str) -> None:
    connection.exec_driver_sql("CREATE TABLE t (x INTEGER)")
    connection.commit()
    # What Alembic's autocommit_block() does: AUTOCOMMIT, a transaction it begins, then back.
    level = connection.get_isolation_level()
    connection.execution_options(isolation_level="AUTOCOMMIT")
    with connection.begin():
        connection.exec_driver_sql("INSERT INTO t VALUES (1)")
        assert _rows_seen_elsewhere(url) == [(1,)], "each statement commits in an autocommit block"
    connection.execution_options(isolation_level=level)
    with connection.begin():
        connection.exec_driver_sql("INSERT INTO t VALUES (2)")
        savepoint = connection.begin_nested()
        connection.exec_driver_sql("INSERT INTO t VALUES (3)")
        savepoint.rollback()
        assert _rows_seen_elsewhere(url) == [(1,)], "the transaction is SQLAlchemy's again"
    assert _rows_seen_elsewhere(url) == [(1,), (2,)]


def _rows_seen_elsewhere(url: str) -> list[tuple[object, ...]]:
    engine = create_sync_engine(sync_url(url), poolclass=NullPool)
    try:
        with engine.connect() as other:
            return [tuple(row) for row in other.exec_driver_sql("SELECT x FROM t ORDER BY x")]
    finally:
        engine.dispose()
