"""Alembic environment: runs on what it is handed, or on the backend's configured database.

What may be handed under ``config.attributes["connection"]`` (Alembic's documented channel, which
pytest-alembic uses too): a ``Connection`` or an ``Engine``, sync or async, or anything with an
Engine's ``connect()``.

Each revision runs in a transaction of its own (``transaction_per_migration``, as Alembic advises for
histories with autocommit blocks), so ``op.get_context().autocommit_block()`` can commit and run
``CREATE INDEX CONCURRENTLY``. A connection handed over inside a transaction the caller holds keeps
everything in that transaction, autocommit blocks included (``keep_autocommit_blocks_inside``).
"""

from __future__ import annotations

import asyncio
from typing import Any

from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.util.concurrency import in_greenlet

from alembic import context
from backend.config import Settings
from backend.db import create_engine
from backend.migrations import MigrationTimeouts, keep_autocommit_blocks_inside
from backend.models import Base

target_metadata = Base.metadata


def run_migrations(connection: Connection) -> None:
    is_sqlite = connection.dialect.name == "sqlite"
    callers_transaction = connection.in_transaction()
    if is_sqlite:
        # Batch mode rebuilds SQLite tables (copy, drop, rename); with foreign keys enforced the
        # drop would cascade into child rows. The pragma only takes effect outside a transaction,
        # so it goes straight to the driver; integrity is checked before each revision commits.
        _sqlite_pragma(connection, "PRAGMA foreign_keys=OFF")
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=is_sqlite,
        compare_type=True,
        compare_server_default=True,
        transaction_per_migration=True,
        on_version_apply=[_check_sqlite_foreign_keys] if is_sqlite else [],
    )
    if callers_transaction:
        keep_autocommit_blocks_inside(context.get_context())
    try:
        with context.begin_transaction():
            context.run_migrations()
    finally:
        if is_sqlite:
            _sqlite_pragma(connection, "PRAGMA foreign_keys=ON")


def _sqlite_pragma(connection: Connection, pragma: str) -> None:
    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(pragma)
    finally:
        cursor.close()


def _check_sqlite_foreign_keys(*, ctx: MigrationContext, **_step: Any) -> None:
    """Alembic calls this inside each revision's transaction, after the revision ran."""
    assert ctx.connection is not None
    violations = ctx.connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    if violations:
        raise RuntimeError(f"migration left rows with broken foreign keys: {violations[:5]}")


async def run_on_async_engine(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        await connection.run_sync(run_migrations)
        await connection.commit()


async def run_on_configured_database() -> None:
    url = context.config.get_main_option("sqlalchemy.url") or Settings().resolved_database_url
    engine = create_engine(url)
    try:
        await run_on_async_engine(engine)
    finally:
        await engine.dispose()


def run_on_handed(handed: Any) -> None:
    """Migrate through whatever the caller handed over; it keeps ownership (nothing is disposed)."""
    if isinstance(handed, Connection):
        run_migrations(handed)
    elif isinstance(handed, AsyncEngine):
        asyncio.run(run_on_async_engine(handed))
    elif isinstance(handed, AsyncConnection):
        if not in_greenlet():
            raise TypeError(
                "an AsyncConnection can be handed to Alembic only from inside "
                "`await connection.run_sync(...)`; hand its AsyncEngine, or run the command "
                "inside run_sync and hand the sync connection it receives"
            )
        assert handed.sync_connection is not None
        run_migrations(handed.sync_connection)
    elif callable(getattr(handed, "connect", None)):  # an Engine, or anything that acts as one
        with handed.connect() as connection:
            already_in_transaction = connection.in_transaction()
            run_migrations(connection)
            # Commit only what was begun here: a caller's open transaction stays the caller's.
            if not already_in_transaction and connection.in_transaction():
                connection.commit()
    else:
        raise TypeError(
            f'config.attributes["connection"] must be a Connection or an Engine, sync or '
            f"async; got {type(handed).__name__}"
        )


def run_offline() -> None:
    settings = Settings()
    url = context.config.get_main_option("sqlalchemy.url") or settings.resolved_database_url
    context.configure(
        url=url,
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        transaction_per_migration=True,
    )
    if make_url(url).get_backend_name() == "postgresql":
        # The script is run by hand (psql): it sets the timeouts `backend migrate` would.
        context.get_context().impl.static_output(
            MigrationTimeouts.from_settings(settings).offline_sql()
        )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_offline()
elif (handed := context.config.attributes.get("connection")) is not None:
    run_on_handed(handed)
else:
    asyncio.run(run_on_configured_database())
