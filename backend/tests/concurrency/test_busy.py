"""When a lock is not granted in time, the client gets a 503 it can retry, never a 500."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from backend.db import SQLITE_WRITE_LOCK, create_engine, create_sessionmaker, get_sessionmaker
from backend.models import Context
from backend.tests.factories import make_context, make_user
from backend.tests.fixtures.clients import ClientFor

SHORT_WAIT_MS = 100


@pytest.fixture
async def impatient_engine(database_url: str, db_engine: AsyncEngine) -> AsyncIterator[AsyncEngine]:
    """An engine on the worker's database that waits only briefly for a lock."""
    if db_engine.dialect.name == "sqlite":
        engine = create_engine(database_url)

        # Runs after the app's own connect hook, which set the usual busy timeout.
        @event.listens_for(engine.sync_engine, "connect")
        def _short_busy_timeout(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute(f"PRAGMA busy_timeout={SHORT_WAIT_MS}")
            cursor.close()
    else:
        engine = create_engine(
            database_url, connect_args={"options": f"-c lock_timeout={SHORT_WAIT_MS}"}
        )
    yield engine
    await engine.dispose()


async def _hold_the_lock(connection: AsyncConnection, context: Context) -> None:
    """What a slow concurrent writer holds: SQLite's write lock, PostgreSQL's row lock."""
    if connection.dialect.name == "sqlite":
        await connection.execution_options(**{SQLITE_WRITE_LOCK: True})
        await connection.begin()  # BEGIN IMMEDIATE: the write lock, until rolled back
    else:
        await connection.begin()
        query = text("SELECT id FROM contexts WHERE id = :id FOR UPDATE")
        await connection.execute(query, {"id": context.id})


@pytest.mark.committed
async def test_a_write_that_waits_too_long_for_a_lock_is_a_503_to_retry(
    app: FastAPI,
    db_session: AsyncSession,
    db_engine: AsyncEngine,
    impatient_engine: AsyncEngine,
    client_for: ClientFor,
) -> None:
    owner = await make_user(db_session)
    context = await make_context(db_session, owner=owner)
    owner_client = await client_for(owner)
    sessionmaker: async_sessionmaker[AsyncSession] = create_sessionmaker(impatient_engine)
    app.dependency_overrides[get_sessionmaker] = lambda: sessionmaker

    async with db_engine.connect() as holder:
        await _hold_the_lock(holder, context)
        busy = await owner_client.patch(f"/contexts/{context.id}", json={"name": "renamed"})
        await holder.rollback()
    retried = await owner_client.patch(f"/contexts/{context.id}", json={"name": "renamed"})

    assert busy.status_code == 503
    assert busy.headers["Retry-After"] == "1"
    assert "busy" in busy.json()["detail"]
    assert retried.status_code == 200
    assert retried.json()["name"] == "renamed"
