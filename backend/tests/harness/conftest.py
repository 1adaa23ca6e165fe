"""What the harness's self-tests need of the outer run: its engine and isolation, for inner runs."""

from __future__ import annotations

import pytest
from pytest_dbharness.harness import harness_of


@pytest.fixture
def on_this_engine(pytestconfig: pytest.Config) -> list[str]:
    """The options that put an inner run on this run's engine: on PostgreSQL, on this run's own
    server as an external one (``--postgres-url``) rather than launching one more, which costs an
    inner run half a second (a cluster copied, started and stopped). Launching is tested where it
    is the point: test_postgres_server.py, test_faults.py, test_interrupts*.py."""
    return engine_options(pytestconfig)


def engine_options(config: pytest.Config) -> list[str]:
    """``on_this_engine`` for code that is no fixture (a run started ahead, head_start.py)."""
    engine = harness_of(config).options.engine
    return ["--postgres-url", admin_url_of(config)] if engine == "postgres" else ["--db", engine]


def admin_url_of(config: pytest.Config) -> str:
    """This run's PostgreSQL server, maintenance database, as an external server's URL is given
    (``--postgres-url``: no driver named)."""
    admin_url = harness_of(config).provision().admin_url
    return admin_url.replace("postgresql+psycopg", "postgresql")


@pytest.fixture
def outer_isolation(pytestconfig: pytest.Config) -> str:
    """The isolation of this run (``--isolation``), for inner runs that check it."""
    return harness_of(pytestconfig).options.isolation
