"""What each isolation costs per test, on a schema of 100 tables; prints figures, asserts none.

Run on demand, on either engine (not part of the suite: ``testpaths`` is ``backend/tests``)::

    uv run pytest backend/bench/test_isolation_cost.py -s -p no:randomly [--db postgres]

- rollback: a savepoint and an outer transaction rolled back (what ``--isolation rollback`` pays);
- commit, write log: the clean-up of ``--isolation commit`` after a test wrote 0, 1 or 5 tables;
- commit, every table: the clean-up it replaced (a DELETE from each of the 100 tables).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

from pytest_dbharness.fixtures.cleanup import WriteLog
from sqlalchemy import Column, ForeignKey, Integer, MetaData, Table, Text, delete, insert
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

TABLES = 100
ROUNDS = 60


def _schema() -> MetaData:
    metadata = MetaData()
    for number in range(TABLES):
        columns: list[Column[Any]] = [Column("id", Integer, primary_key=True), Column("note", Text)]
        if number:  # a chain of foreign keys, so the clean-up's order matters
            columns.append(Column("parent_id", Integer, ForeignKey(f"t{number - 1}.id")))
        Table(f"t{number}", metadata, *columns)
    return metadata


async def _median_ms(step: Callable[[], Awaitable[None]]) -> float:
    times = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        await step()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


async def test_cost_of_each_isolation_on_100_tables(empty_database_url: str) -> None:
    metadata = _schema()
    engine: AsyncEngine = create_async_engine(empty_database_url)
    tables = metadata.sorted_tables
    try:
        async with engine.begin() as connection:
            await connection.run_sync(metadata.create_all)
        log = WriteLog()
        await log.install(engine)

        async def write(count: int) -> None:
            async with engine.begin() as connection:
                for table in tables[:count]:
                    await connection.execute(insert(table).values(note="x"))

        async def rollback_round() -> None:
            async with engine.connect() as connection:
                outer = await connection.begin()
                savepoint = await connection.begin_nested()
                await connection.execute(insert(tables[0]).values(note="x"))
                await savepoint.commit()
                await outer.rollback()

        async def every_table() -> None:
            async with engine.begin() as connection:
                for table in reversed(tables):
                    await connection.execute(delete(table))

        figures = {"rollback (savepoint + outer transaction, one insert)": rollback_round}
        for count in (0, 1, 5):

            async def write_then_clean(count: int = count) -> None:
                await write(count)
                await log.clean(engine)

            figures[f"commit: write {count} tables, then the write-log clean-up"] = write_then_clean
        figures["commit: write 1 table, then DELETE from all 100 tables"] = lambda: _both(
            write(1), every_table()
        )
        print(f"\n{engine.dialect.name}, {TABLES} tables, median of {ROUNDS}:")
        for name, step in figures.items():
            print(f"  {name}: {await _median_ms(step):.2f} ms")
    finally:
        await engine.dispose()


async def _both(first: Awaitable[None], second: Awaitable[None]) -> None:
    await first
    await second
