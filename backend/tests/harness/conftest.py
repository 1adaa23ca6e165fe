"""What the harness's self-tests need of the outer run: its engine and isolation, for inner runs."""

from __future__ import annotations

import pytest
from pytest_dbharness.harness import harness_of


@pytest.fixture
def outer_engine(pytestconfig: pytest.Config) -> str:
    """The engine of this run, so that an inner run checks the same engine (``--db``)."""
    return harness_of(pytestconfig).options.engine


@pytest.fixture
def outer_isolation(pytestconfig: pytest.Config) -> str:
    """The isolation of this run (``--isolation``), for inner runs that check it."""
    return harness_of(pytestconfig).options.isolation
