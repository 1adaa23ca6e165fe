"""Engines, session factories and the request's unit of work."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from backend.core.json_document import dumps_document
from backend.core.search import SQLITE_SEARCH_LOWER, search_lower
from backend.core.sqlite_writers import WRITERS
from backend.secrets_files import private_sqlite_file

SQLITE_BUSY_TIMEOUT_MS = 5000
# A connection execution option: its transactions begin with the write lock (BEGIN IMMEDIATE).
SQLITE_WRITE_LOCK = "backend_sqlite_write_lock"
# Requests with these methods only read; every other method's unit of work may write.
READ_ONLY_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """Create an async engine; SQLite engines get the connection setup the app relies on."""
    parsed = make_url(url)
    # JSON columns are written so that they come back as sent on both engines (JSONB's numeric).
    kwargs.setdefault("json_serializer", dumps_document)
    if parsed.get_backend_name() != "sqlite":
        return create_async_engine(url, pool_pre_ping=True, **kwargs)
    if parsed.database and parsed.database != ":memory:":
        private_sqlite_file(Path(parsed.database))
    engine = create_async_engine(url, **kwargs)
    configure_sqlite(engine)
    return engine


def configure_sqlite(engine: AsyncEngine) -> None:
    """Enforce foreign keys, use WAL and a busy timeout, and let SQLAlchemy own transactions.

    The sqlite3 module opens transactions lazily and ignores SAVEPOINT bookkeeping; switching its
    own handling off and emitting BEGIN ourselves is SQLAlchemy's documented workaround, without
    which nested transactions (and so the test harness's rollback isolation) silently do nothing.
    A connection in SQLAlchemy's AUTOCOMMIT isolation level gets no BEGIN.

    A transaction on a connection with the ``SQLITE_WRITE_LOCK`` option begins IMMEDIATE: it takes
    the write lock up front, waiting up to the busy timeout for it. A deferred BEGIN that reads
    and then writes fails at once ("database is locked") when another connection committed in
    between, because SQLite cannot upgrade a stale snapshot and does not wait for that; the busy
    timeout only applies to a lock taken before the transaction has read anything. Readers keep
    a deferred BEGIN and stay concurrent with the writer under WAL. Before its BEGIN IMMEDIATE, a
    writer of a database file waits in line behind this process's other writers of that file
    (``backend.core.sqlite_writers``), until its connection is back in the pool.
    """
    database = engine.url.database or ""
    in_line = database not in ("", ":memory:")

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()
        dbapi_connection.create_function(SQLITE_SEARCH_LOWER, 1, search_lower, deterministic=True)

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        options = connection.get_execution_options()
        if options.get("isolation_level") == "AUTOCOMMIT":
            return  # each statement commits by itself (Alembic's autocommit_block, say)
        dbapi_connection = connection.connection.dbapi_connection
        if dbapi_connection.isolation_level is not None:
            # Leaving AUTOCOMMIT, SQLAlchemy's pysqlite dialect hands transactions back to the
            # sqlite3 module (isolation_level ""); take them back.
            dbapi_connection.isolation_level = None
        writes = options.get(SQLITE_WRITE_LOCK, False)
        if not writes:
            connection.exec_driver_sql("BEGIN")
            return
        pooled = connection.connection
        if in_line:
            WRITERS.wait_for_turn(database, pooled)
        try:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            WRITERS.give_up_turn(pooled.record_info)
            raise

    if in_line:

        @event.listens_for(engine.sync_engine, "checkin")
        def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
            WRITERS.give_up_turn(record.record_info)


def create_sessionmaker(bind: Any) -> async_sessionmaker[AsyncSession]:
    """Sessions that keep loaded values after commit (responses are built after the commit)."""
    return async_sessionmaker(bind=bind, expire_on_commit=False, autoflush=False)


async def get_sessionmaker(request: Request) -> async_sessionmaker[AsyncSession]:
    """The app's session factory; the test harness overrides this one dependency.

    A coroutine function although it awaits nothing: FastAPI runs a plain function dependency on a
    worker thread, a hop per request for reading one attribute.
    """
    sessionmaker: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    return sessionmaker


def unit_of_work_options(
    sessionmaker: async_sessionmaker[AsyncSession], *, writes: bool
) -> dict[str, Any]:
    """Session arguments for a unit of work that ``writes`` (or only reads).

    On an SQLite engine a writing unit of work takes the write lock when it begins. Not on a
    session bound to one connection (the test harness's rollback wrapper), whose transaction
    is already open and whose connection must not keep the option for later tests.
    """
    bind = sessionmaker.kw.get("bind")
    if writes and isinstance(bind, AsyncEngine) and bind.dialect.name == "sqlite":
        return {"execution_options": {SQLITE_WRITE_LOCK: True}}
    return {}


async def get_session(
    request: Request,
    sessionmaker: Annotated[async_sessionmaker[AsyncSession], Depends(get_sessionmaker)],
) -> AsyncIterator[AsyncSession]:
    """One session per request: committed when the endpoint returns, rolled back when it raises.

    Whether it writes is decided by the HTTP method: GET, HEAD and OPTIONS only read.
    """
    writes = request.method not in READ_ONLY_METHODS
    async with sessionmaker(**unit_of_work_options(sessionmaker, writes=writes)) as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise


SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
