"""Start-up proof that a rolled-back test's writes really disappear, on the worker's own connection.

The rollback isolation rests on savepoints inside one outer transaction. An engine that does not
really begin a transaction (sqlite3 without the savepoint workaround, an engine made with
``isolation_level="AUTOCOMMIT"``) lets a test's commits stay behind for the next test, silently;
this tries the pattern once, on a temporary table, before the worker's first test.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

PROBE_TABLE = "dbharness_rollback_probe"  # a constant: the f-strings below inject nothing


class IsolationLeaks(Exception):
    """A write committed inside the rolled-back outer transaction survived its rollback."""


async def prove_rollback_undoes_commits(connection: AsyncConnection) -> None:
    await connection.execute(text(f"CREATE TEMPORARY TABLE {PROBE_TABLE} (n INTEGER)"))
    await connection.commit()
    try:
        outer = await connection.begin()
        async with AsyncSession(connection, join_transaction_mode="create_savepoint") as session:
            await session.execute(text(f"INSERT INTO {PROBE_TABLE} (n) VALUES (1)"))  # noqa: S608
            await session.commit()
        await outer.rollback()
        left = (await connection.execute(text(f"SELECT count(*) FROM {PROBE_TABLE}"))).scalar()  # noqa: S608
    finally:
        if connection.in_transaction():
            await connection.rollback()
        await connection.execute(text(f"DROP TABLE {PROBE_TABLE}"))
        await connection.commit()
    if left:
        raise IsolationLeaks(
            f"a row committed inside a test's rolled-back transaction was still there after the "
            f"rollback ({connection.dialect.name}, driver {connection.dialect.driver}): the "
            "project's engine does not really begin transactions (an engine made with "
            'isolation_level="AUTOCOMMIT", or a connect/begin event that ends transactions), so '
            "every test would leave its writes to the next. Make the engine factory the harness "
            "calls (Project.create_engine) leave transactions to SQLAlchemy."
        )
