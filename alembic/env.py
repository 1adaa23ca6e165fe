"""Alembic environment: runs on a connection it is handed, or on the backend's configured database."""

from __future__ import annotations

import asyncio

from sqlalchemy.engine import Connection

from alembic import context
from backend.config import Settings
from backend.db import create_engine
from backend.models import Base

target_metadata = Base.metadata


def run_migrations(connection: Connection) -> None:
    is_sqlite = connection.dialect.name == "sqlite"
    if is_sqlite:
        # Batch mode rebuilds SQLite tables (copy, drop, rename); with foreign keys enforced the
        # drop would cascade into child rows. The pragma only takes effect outside a transaction,
        # so it goes straight to the driver; integrity is checked again before commit.
        _sqlite_pragma(connection, "PRAGMA foreign_keys=OFF")
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=is_sqlite,
        compare_type=True,
        compare_server_default=True,
        transaction_per_migration=False,
    )
    try:
        with context.begin_transaction():
            context.run_migrations()
            if is_sqlite:
                _check_sqlite_foreign_keys(connection)
    finally:
        if is_sqlite:
            _sqlite_pragma(connection, "PRAGMA foreign_keys=ON")


def _sqlite_pragma(connection: Connection, pragma: str) -> None:
    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(pragma)
    finally:
        cursor.close()


def _check_sqlite_foreign_keys(connection: Connection) -> None:
    violations = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    if violations:
        raise RuntimeError(f"migration left rows with broken foreign keys: {violations[:5]}")


async def run_on_configured_database() -> None:
    url = context.config.get_main_option("sqlalchemy.url") or Settings().resolved_database_url
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(run_migrations)
            await connection.commit()
    finally:
        await engine.dispose()


def run_offline() -> None:
    url = context.config.get_main_option("sqlalchemy.url") or Settings().resolved_database_url
    context.configure(
        url=url,
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_offline()
elif (handed := context.config.attributes.get("connection")) is not None:
    run_migrations(handed)
else:
    asyncio.run(run_on_configured_database())
