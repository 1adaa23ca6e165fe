"""When a lock is not granted in time, the client gets a 503 it can retry, never a 500."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pytest_dbharness.fixtures.live_server import LiveServer, ThreadedServer
from pytest_dbharness.project import current_project
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from backend.db import SQLITE_WRITE_LOCK, create_engine, create_sessionmaker, get_sessionmaker
from backend.models import Context
from backend.tests.factories import make_context, make_user
from backend.tests.fixtures.clients import ClientFor
from backend.tests.fixtures.live import live_client

SHORT_WAIT_MS = 100


def _impatient_engine(database_url: str) -> AsyncEngine:
    """An engine on the worker's database that waits only briefly for a lock."""
    if not database_url.startswith("sqlite"):
        return create_engine(
            database_url, connect_args={"options": f"-c lock_timeout={SHORT_WAIT_MS}"}
        )
    engine = create_engine(database_url)

    # Runs after the app's own connect hook, which set the usual busy timeout.
    @event.listens_for(engine.sync_engine, "connect")
    def _short_busy_timeout(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={SHORT_WAIT_MS}")
        cursor.close()

    return engine


@pytest.fixture
async def impatient_engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = _impatient_engine(database_url)
    yield engine
    await engine.dispose()


class _ImpatientSessions:
    """The app's session factory, replaced by one on an impatient engine made in the server's loop."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self.engine: AsyncEngine | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.sessionmaker: async_sessionmaker[AsyncSession] | None = None

    async def __call__(self) -> async_sessionmaker[AsyncSession]:
        if self.sessionmaker is None:
            self.loop = asyncio.get_running_loop()
            self.engine = _impatient_engine(self.database_url)
            self.sessionmaker = create_sessionmaker(self.engine)
        return self.sessionmaker

    def dispose(self) -> None:
        if self.engine is not None and self.loop is not None:
            asyncio.run_coroutine_threadsafe(self.engine.dispose(), self.loop).result(10)


@pytest.fixture
def impatient_live_server(
    database_url: str, tmp_path: Path, db_sessionmaker: async_sessionmaker[AsyncSession]
) -> Iterator[LiveServer]:
    """A live server of its own whose requests wait only briefly for a lock (committed test)."""
    app = current_project().create_app(database_url, tmp_path)
    sessions = _ImpatientSessions(database_url)
    app.dependency_overrides[get_sessionmaker] = sessions
    server = ThreadedServer(app)
    server.start()
    yield LiveServer(url=server.url)
    sessions.dispose()
    server.stop()


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


def _local_port(response: httpx.Response) -> int:
    return int(response.extensions["network_stream"].get_extra_info("client_addr")[1])


@pytest.mark.committed
async def test_after_a_503_the_same_keep_alive_connection_serves_the_retry(
    db_session: AsyncSession, db_engine: AsyncEngine, impatient_live_server: LiveServer
) -> None:
    owner = await make_user(db_session)
    context = await make_context(db_session, owner=owner)

    async with live_client(impatient_live_server, owner) as client:
        before = await client.get(f"/contexts/{context.id}")
        ports = [_local_port(before)]
        async with db_engine.connect() as holder:
            await _hold_the_lock(holder, context)
            busy = await client.patch(f"/contexts/{context.id}", json={"name": "renamed"})
            ports.append(_local_port(busy))
            await holder.rollback()
        retried = await client.patch(f"/contexts/{context.id}", json={"name": "renamed"})
        ports.append(_local_port(retried))

    assert (before.status_code, busy.status_code, retried.status_code) == (200, 503, 200)
    assert busy.headers["Retry-After"] == "1"
    # uvicorn closes a connection after an unhandled error; a 503 is an answer, not an error:
    # all three went over one keep-alive connection (one local port).
    assert len(set(ports)) == 1, ports
