"""An aiosqlite-compatible driver that runs sqlite3 on the event loop, for the test's shared connection.

aiosqlite runs every statement on a thread of its own and hands the result back to the loop: a
savepoint cycle of five statements costs about twice as much through it as through sqlite3 itself.
The harness's rolled-back worker connection is one connection, used by one loop, that holds the
write lock for the whole test, so it never waits on a lock held by code on the same loop, and the
hop buys it nothing. SQLAlchemy's own aiosqlite dialect drives this module (``module=``), so the
SQL, the events and the app's engine factory's hooks are the ones production runs; only the
transport under the dialect differs. The app's own engine and committed tests keep real aiosqlite,
where a busy wait must not block the loop.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Generator, Sequence
from typing import Any

from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import StaticPool


class InlineCursor:
    """The awaitable cursor API aiosqlite offers, over a sqlite3 cursor, with no thread.

    aiosqlite's ``Connection.cursor()`` is both awaitable and an async context manager, and
    SQLAlchemy's adapter uses it either way (2.0 awaits it, 2.1 enters it), so this is both too.
    """

    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self._cursor = cursor

    def __await__(self) -> Generator[Any, None, InlineCursor]:
        return self._itself().__await__()

    async def _itself(self) -> InlineCursor:
        return self

    async def __aenter__(self) -> InlineCursor:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        self._cursor.close()

    async def execute(self, sql: str, parameters: Sequence[Any] | None = None) -> InlineCursor:
        self._cursor.execute(sql, () if parameters is None else parameters)
        return self

    async def executemany(self, sql: str, parameters: Any) -> InlineCursor:
        self._cursor.executemany(sql, parameters)
        return self

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        return self._cursor.fetchmany(self._cursor.arraysize if size is None else size)

    async def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    async def close(self) -> None:
        self._cursor.close()

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value


class InlineConnection:
    """The part of ``aiosqlite.Connection`` SQLAlchemy's adapter uses, over a sqlite3 connection."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        # ``_connection`` and ``_conn`` are the names SQLAlchemy's adapter reads on aiosqlite's.
        self._connection: sqlite3.Connection | None = connection
        self._conn = connection

    def cursor(self) -> InlineCursor:
        return InlineCursor(self._conn.cursor())

    async def execute(self, sql: str, parameters: Sequence[Any] | None = None) -> InlineCursor:
        return await self.cursor().execute(sql, parameters)

    async def commit(self) -> None:
        self._conn.commit()

    async def rollback(self) -> None:
        self._conn.rollback()

    async def close(self) -> None:
        if self._connection is not None:
            self._connection = None
            self._conn.close()

    @property
    def in_transaction(self) -> bool:
        return self._conn.in_transaction

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        self._conn.create_function(*args, **kwargs)

    def stop(self) -> None:
        """What SQLAlchemy calls to terminate a connection: close it, there is no thread."""
        if self._connection is not None:
            self._connection = None
            self._conn.close()


class InlineAdaptedConnection(AsyncAdapt_aiosqlite_connection):
    """SQLAlchemy's aiosqlite connection adapter, minus the one place it reaches into the thread."""

    __slots__ = ()

    @property
    def isolation_level(self) -> str | None:
        return self._connection._conn.isolation_level  # type: ignore[no-any-return]

    @isolation_level.setter
    def isolation_level(self, value: str | None) -> None:
        # aiosqlite's adapter queues this on the connection's thread; here there is none.
        self._connection._conn.isolation_level = value


class InlineDBAPI(AsyncAdapt_aiosqlite_dbapi):
    """What ``create_async_engine(..., module=...)`` takes for the aiosqlite dialect."""

    def __init__(self) -> None:
        import aiosqlite  # the dialect reads its error classes and version from it

        super().__init__(aiosqlite, sqlite3)

    def connect(self, *args: Any, **kwargs: Any) -> InlineAdaptedConnection:
        kwargs.pop("async_creator_fn", None)
        kwargs.pop("iter_chunk_size", None)
        # InlineConnection offers what the adapter calls, not the whole aiosqlite protocol.
        connection: Any = InlineConnection(sqlite3.connect(*args, **kwargs))
        return InlineAdaptedConnection(self, connection)


def inline_engine(url: str) -> AsyncEngine:
    """An engine on the SQLite database at ``url`` through this driver, for one shared connection:
    the app's own engine factory and hooks, and the harness's rules, on the inline transport."""
    from pytest_dbharness.backends import create_engine  # the registry imports the engines lazily

    return create_engine(url, module=InlineDBAPI(), poolclass=StaticPool)
