"""On SQLite, this process's writers of one file take turns in the order they asked (first come,
first served), give their turn up however their unit of work ends, and one that waits past the
busy timeout (its connection's) is refused as busy (a 503), never left waiting for good.

On an engine of its own, on a file of its own: the order is the point, so no other writer may
be in the line.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from backend import db
from backend.core import sqlite_writers
from backend.core.errors import is_busy
from backend.db import create_engine, create_sessionmaker, unit_of_work_options

pytestmark = pytest.mark.sqlite_only(
    reason="SQLite has one writer at a time; PostgreSQL's writers do not wait for each other"
)

WRITERS = 8


@pytest.fixture
async def sessions(tmp_path: Path) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine: AsyncEngine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'line.sqlite3'}")
    async with engine.begin() as connection:
        await connection.execute(text("CREATE TABLE turn (id INTEGER PRIMARY KEY, writer INT)"))
    yield create_sessionmaker(engine)
    await engine.dispose()


class AskedForTurns:
    """How many writers have taken their place in line (waiting or not): what a test waits for
    instead of sleeping long enough for them to have asked.

    Counted once a writer has its connection's busy timeout (which a new connection reads from
    SQLite, a wait of its own): the line queues it next, with nothing to wait for in between."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        self._changed = asyncio.Condition()
        patience = sqlite_writers._busy_timeout

        def counted(pooled: Any) -> float:
            seconds = patience(pooled)
            self.count += 1
            asyncio.get_running_loop().create_task(self._tell())
            return seconds

        monkeypatch.setattr(sqlite_writers, "_busy_timeout", counted)

    async def _tell(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def reach(self, count: int) -> None:
        try:
            async with self._changed:
                await asyncio.wait_for(self._changed.wait_for(lambda: self.count >= count), 5)
        except TimeoutError:
            pytest.fail(f"{self.count} writers took a place in line in 5 s, not {count}")


@pytest.fixture
def asked(monkeypatch: pytest.MonkeyPatch) -> AskedForTurns:
    return AskedForTurns(monkeypatch)


async def write(
    sessions: async_sessionmaker[AsyncSession],
    writer: int,
    *,
    hold_until: Awaitable[object] | None = None,
    fail: bool = False,
) -> None:
    """One unit of work that writes, as a request's: it takes its turn when it begins, and keeps
    it until ``hold_until`` is done."""
    async with sessions(**unit_of_work_options(sessions, writes=True)) as session:
        await session.execute(text("INSERT INTO turn (writer) VALUES (:w)"), {"w": writer})
        if hold_until is not None:
            await hold_until
        if fail:
            raise RuntimeError("the unit of work fails")
        await session.commit()


async def turns(sessions: async_sessionmaker[AsyncSession]) -> list[int]:
    async with sessions() as session:
        return list((await session.scalars(text("SELECT writer FROM turn ORDER BY id"))).all())


async def test_writers_take_their_turns_in_the_order_they_asked(
    sessions: async_sessionmaker[AsyncSession], asked: AskedForTurns
) -> None:
    # The first keeps its turn until every later writer is waiting in line behind it.
    first = asyncio.create_task(write(sessions, 0, hold_until=asked.reach(WRITERS)))
    later = []
    for writer in range(1, WRITERS):
        await asked.reach(writer)  # each asks after the one before it
        later.append(asyncio.create_task(write(sessions, writer)))
    await asyncio.gather(first, *later)

    # SQLite's busy handler, polling, let them in in no particular order.
    assert await turns(sessions) == list(range(WRITERS))


async def test_a_unit_of_work_that_fails_gives_its_turn_up(
    sessions: async_sessionmaker[AsyncSession], asked: AskedForTurns
) -> None:
    # It fails once the next writer waits in line behind it.
    failing = asyncio.create_task(write(sessions, 0, hold_until=asked.reach(2), fail=True))
    await asked.reach(1)
    await asyncio.wait_for(write(sessions, 1), timeout=db.SQLITE_BUSY_TIMEOUT_MS / 1000 / 2)

    with pytest.raises(RuntimeError, match="fails"):
        await failing
    assert await turns(sessions) == [1]


async def test_a_writer_that_waits_past_its_busy_timeout_is_refused_as_busy_and_the_line_goes_on(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path, asked: AskedForTurns
) -> None:
    impatient = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'line.sqlite3'}")

    # After the app's own connect hook: this engine's writers wait 0.1 s, not 5.
    @event.listens_for(impatient.sync_engine, "connect")
    def _short_busy_timeout(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA busy_timeout=100")
        cursor.close()

    # The holder keeps its turn until the impatient writer has been refused.
    refused_now = asyncio.Event()
    holder = asyncio.create_task(write(sessions, 0, hold_until=refused_now.wait()))
    await asked.reach(1)
    try:
        with pytest.raises(OperationalError) as refused:
            await asyncio.wait_for(write(create_sessionmaker(impatient), 1), timeout=0.4)
    finally:
        refused_now.set()
        await impatient.dispose()
    assert is_busy(refused.value)  # what the app answers with a 503 and Retry-After

    await holder
    await asyncio.wait_for(write(sessions, 2), timeout=1)
    assert await turns(sessions) == [0, 2]
