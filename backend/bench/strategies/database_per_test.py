"""Reference strategy: a new database per test, cloned from the migrated template, dropped after.

This is what pytest-postgresql's own ``postgresql`` fixture does (CREATE DATABASE … TEMPLATE, a new
connection, DROP DATABASE); on SQLite the clone is a copy of the template file.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator

import pytest
from pytest_dbharness.backends import engine_of
from pytest_dbharness.harness import harness_of
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from backend.db import create_engine

_numbers = itertools.count(1)


@pytest.fixture
async def db_engine(pytestconfig: pytest.Config) -> AsyncIterator[AsyncEngine]:
    """An engine on a database cloned for this test alone (replaces the per-worker one)."""
    harness = harness_of(pytestconfig)
    provisioned = harness.provision()
    engine_functions = engine_of(provisioned)
    url = engine_functions.clone(provisioned, f"{harness.worker_id}_t{next(_numbers)}")
    engine = create_engine(url)
    try:
        yield engine
    finally:
        await engine.dispose()
        engine_functions.drop(provisioned, url)


@pytest.fixture
def db_sessionmaker(db_engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Plain sessions on the test's own database: nothing to undo, the database goes away."""
    return async_sessionmaker(db_engine, expire_on_commit=False, autoflush=False)
