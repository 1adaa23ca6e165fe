"""Where pytest-alembic's built-in tests (test_pytest_alembic.py) migrate: this run's engine.

Only the two fixtures its documentation says to override: no adapter between it and ``env.py``.
Its plugin is off (``-p no:pytest_alembic`` in pyproject.toml: it would import Alembic in every
run); the one fixture of its own those tests need, ``alembic_runner``, is taken here.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from alembic.config import Config
from pytest_alembic.plugin.fixtures import alembic_runner
from pytest_dbharness.backends import migration_engine
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import NullPool

from backend.migrations import alembic_config as project_alembic_config

# What test_safety.py records its table under, and its name.
SAFETY_REPORT = "migration safety"
SAFETY_TEST = "test_safety.py::test_every_revision_is_safe_to_deploy_or_says_why_not"

__all__ = ["alembic_runner"]  # pytest-alembic's fixture, used by its imported tests


@pytest.fixture
def alembic_config() -> Config:
    """The project's own Alembic configuration (alembic.ini, alembic/)."""
    return project_alembic_config()


@pytest.fixture
def alembic_engine(empty_database_url: str) -> Iterator[AsyncEngine]:
    """The app's engine, as the harness migrates through it, on a new empty database of this run's
    engine (``pytest_dbharness.backends.migration_engine``: on SQLite, the inline transport, which
    spares each of the thousands of statements these checks run aiosqlite's thread hop).

    No pool: pytest-alembic's tests are synchronous, and ``env.py`` runs an async engine in an
    event loop of its own each time, so no connection may outlive one of those loops.
    """
    engine = migration_engine(empty_database_url, poolclass=NullPool)
    yield engine
    engine.sync_engine.dispose()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """The migration safety table (test_safety.py), or why it was not made, after every run."""
    stats = terminalreporter.stats
    for report in [*stats.get("passed", []), *stats.get("failed", [])]:
        for key, value in getattr(report, "user_properties", ()):
            if key == SAFETY_REPORT:
                terminalreporter.write_sep("-", "migration safety on PostgreSQL")
                terminalreporter.write_line(str(value))
    for report in stats.get("skipped", []):
        if report.nodeid.endswith(SAFETY_TEST) and isinstance(report.longrepr, tuple):
            terminalreporter.write_sep("-", "migration safety")
            terminalreporter.write_line(
                f"not checked: {report.longrepr[2].removeprefix('Skipped: ')}"
            )
