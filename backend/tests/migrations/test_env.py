"""alembic/env.py migrates through whatever Alembic's conventions hand it (issue 12, point 10)."""

from __future__ import annotations

from collections.abc import Callable

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
