"""Where pytest-alembic's built-in tests (test_pytest_alembic.py) migrate: this run's engine.

Only the two fixtures its documentation says to override: no adapter between it and ``env.py``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from alembic.config import Config
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import NullPool

from backend.db import create_engine
from backend.migrations import alembic_config as project_alembic_config


@pytest.fixture
def alembic_config() -> Config:
    """The project's own Alembic configuration (alembic.ini, alembic/)."""
    return project_alembic_config()


@pytest.fixture
def alembic_engine(empty_database_url: str) -> Iterator[AsyncEngine]:
    """The engine the app uses, on a new empty database of this run's engine.

    No pool: pytest-alembic's tests are synchronous, and ``env.py`` runs an async engine in an
    event loop of its own each time, so no connection may outlive one of those loops.
    """
    engine = create_engine(empty_database_url, poolclass=NullPool)
    yield engine
    engine.sync_engine.dispose()
