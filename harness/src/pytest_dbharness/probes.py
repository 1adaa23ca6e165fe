"""Start-up proof that a rolled-back test's writes really disappear, on the worker's own connection.

The rollback isolation rests on savepoints inside one outer transaction. An engine that does not
really begin a transaction (sqlite3 without the savepoint workaround, an engine made with
``isolation_level="AUTOCOMMIT"``) lets a test's commits stay behind for the next test, silently;
this tries the pattern once, on a temporary table, before the worker's first test.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

PROBE_TABLE = "dbharness_rollback_probe"  # a constant: the f-strings below inject nothing


class IsolationLeaks(Exception):
    """A write committed inside the rolled-back outer transaction survived its rollback."""


async def prove_rollback_undoes_commits(connection: AsyncConnection) -> None:
    await connection.execute(text(f"CREATE TEMPORARY TABLE {PROBE_TABLE} (n INTEGER)"))
    await connection.commit()
    try:
        left = await _rows_left_after_a_rolled_back_commit(connection)
    except DBAPIError as error:  # e.g. SAVEPOINT outside a transaction, on an autocommit engine
        raise IsolationLeaks(_explained(connection, f"the pattern failed: {error.orig}")) from None
    finally:
        if connection.in_transaction():
            await connection.rollback()
        await connection.execute(text(f"DROP TABLE {PROBE_TABLE}"))
        await connection.commit()
    if left:
        raise IsolationLeaks(
            _explained(connection, "a row it committed was still there after the rollback")
        )


async def _rows_left_after_a_rolled_back_commit(connection: AsyncConnection) -> int:
    """What every rolled-back test does: a session commits in a savepoint, the outer rolls back."""
    outer = await connection.begin()
    async with AsyncSession(connection, join_transaction_mode="create_savepoint") as session:
        await session.execute(text(f"INSERT INTO {PROBE_TABLE} (n) VALUES (1)"))  # noqa: S608
        await session.commit()
    await outer.rollback()
    counted = await connection.execute(text(f"SELECT count(*) FROM {PROBE_TABLE}"))  # noqa: S608
    return int(counted.scalar() or 0)


def _explained(connection: AsyncConnection, what_happened: str) -> str:
    dialect = connection.dialect
    return (
        f"the harness tried a rolled-back test's transactions once before the first test, on "
        f"{dialect.name} with the driver {dialect.driver}, and {what_happened}: the project's "
        "engine does not really begin transactions (an engine made with "
        'isolation_level="AUTOCOMMIT", or a connect or begin event that ends them), so every test '
        "would leave its writes to the next. Make the engine factory the harness calls "
        "(Project.create_engine) leave transactions to SQLAlchemy."
    )
