"""Reference strategy: the worker's database, committed to for real, truncated after every test.

PostgreSQL: one ``TRUNCATE … RESTART IDENTITY CASCADE`` of every table. SQLite has no TRUNCATE:
there it is a DELETE from every table and of the AUTOINCREMENT counters, its nearest equivalent.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import delete, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from backend.models import Base


@pytest.fixture
async def db_sessionmaker(
    db_engine: AsyncEngine,
) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Plain sessions on the worker's engine; every table is emptied after the test."""
    yield async_sessionmaker(db_engine, expire_on_commit=False, autoflush=False)
    await empty_tables(db_engine)


async def empty_tables(engine: AsyncEngine) -> None:
    tables = Base.metadata.sorted_tables
    async with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            names = ", ".join(engine.dialect.identifier_preparer.format_table(t) for t in tables)
            await connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
            return
        for table in reversed(tables):
            await connection.execute(delete(table))
        has_counters = await connection.scalar(
            text("SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_sequence'")
        )
        if has_counters:
            await connection.execute(text("DELETE FROM sqlite_sequence"))
