"""One SQLite file's writers in this process wait in line, not in SQLite's busy handler.

SQLite lets one connection write at a time. A ``BEGIN IMMEDIATE`` that finds the file locked is
retried by SQLite's busy handler, which sleeps between tries (1, 2, 5, 10 … up to 100 ms) and never
hears that the lock was freed: under a burst of writes, a writer that lost a few tries sleeps
while later ones get in, and its request can wait past the busy timeout and be answered 503 while
the file is free most of that time. (Measured here with 15 concurrent writers: p99 of a write
unit of work 460-560 ms, against 43-53 ms in line, and the burst done sooner; docs/deployment.md
has the load figures.)

So a unit of work that writes first takes its place in an ``asyncio.Lock`` of its file and event
loop (asyncio's locks wake their waiters first come, first served), then begins IMMEDIATE, and
gives the place up when its connection goes back to the pool, that is, once its COMMIT or
ROLLBACK has run. It waits in line at most its connection's busy timeout (``PRAGMA
busy_timeout``, read once per connection), then is refused as SQLite would refuse it ("database
is locked": a 503 to retry). Other processes on the same file (``backend
serve --workers 2``) still meet in SQLite's busy handler.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import weakref
from typing import Any

from sqlalchemy.exc import OperationalError

# Where a pool entry keeps its place in line: ``record_info`` outlives an invalidation (``info``
# is emptied by one), and the pool's checkin event gets the same entry.
_PLACE = "backend_sqlite_writer_place"
# Where a connection keeps its busy timeout, in seconds (``info``: a new connection reads it again).
_PATIENCE = "backend_sqlite_busy_timeout"


class _Place:
    """A held place in one file's line, given up once, from any thread."""

    def __init__(self, lock: asyncio.Lock, loop: asyncio.AbstractEventLoop) -> None:
        self.lock, self.loop = lock, loop

    def give_up(self) -> None:
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self.loop:
            self.lock.release()
        elif not self.loop.is_closed():  # a connection garbage-collected in another thread
            self.loop.call_soon_threadsafe(self.lock.release)


class WriterLines:
    """The lines of this process: one per database file and event loop."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._lines: dict[str, weakref.WeakKeyDictionary[Any, asyncio.Lock]] = {}

    def _line(self, database: str, loop: asyncio.AbstractEventLoop) -> asyncio.Lock:
        with self._guard:
            by_loop = self._lines.setdefault(database, weakref.WeakKeyDictionary())
            return by_loop.setdefault(loop, asyncio.Lock())

    def wait_for_turn(self, database: str, pooled: Any) -> None:
        """Take a place in ``database``'s line for the pooled connection (an engine's ``begin``
        event, in SQLAlchemy's greenlet): at once if it holds one already, else when its turn
        comes, or ``OperationalError`` after the connection's busy timeout."""
        if _PLACE in pooled.record_info:
            return  # a second transaction on a connection not yet returned to the pool
        seconds = _busy_timeout(pooled)
        loop = asyncio.get_running_loop()
        lock = self._line(database, loop)

        async def queue(_driver_connection: Any) -> None:
            await asyncio.wait_for(lock.acquire(), seconds)

        try:
            pooled.dbapi_connection.run_async(queue)
        except TimeoutError:
            raise OperationalError(
                "BEGIN IMMEDIATE",
                None,
                sqlite3.OperationalError("database is locked (waited in line for the writer)"),
            ) from None
        pooled.record_info[_PLACE] = _Place(lock, loop)

    @staticmethod
    def give_up_turn(record_info: dict[str, Any] | None) -> None:
        """Leave the line (a pool checkin, or a BEGIN that failed): the next writer's turn."""
        place = record_info.pop(_PLACE, None) if record_info is not None else None
        if place is not None:
            place.give_up()


def _busy_timeout(pooled: Any) -> float:
    """The seconds SQLite itself would wait for the lock on this connection: an engine may set
    its own (a short one, say, for a request that must not wait)."""
    seconds = pooled.info.get(_PATIENCE)
    if seconds is None:
        cursor = pooled.dbapi_connection.cursor()
        cursor.execute("PRAGMA busy_timeout")
        seconds = pooled.info[_PATIENCE] = cursor.fetchone()[0] / 1000
        cursor.close()
    return float(seconds)


WRITERS = WriterLines()
