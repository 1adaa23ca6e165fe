"""Which isolation a test runs with, and the keys its reports carry to the summary."""

from __future__ import annotations

import pytest

from pytest_dbharness.harness import harness_of

# Set on a test's reports when one of its statements read the transaction's clock (the summary
# lists them; user properties reach the controller from xdist workers).
CLOCK_READ = "read_the_transaction_clock"
# The fixture every isolation fixture depends on (``db_session``, ``app``, … : fixtures/database.py).
ISOLATION_FIXTURE = "db_isolation"


def isolation_mode(item: pytest.Item) -> str:
    """``commit`` for a test marked ``committed`` or in a ``--isolation commit`` run."""
    if item.get_closest_marker("committed"):
        return "commit"
    return harness_of(item.config).options.isolation


def cleaned_up_after(item: pytest.Item) -> bool:
    """Whether the clean-up after ``item`` empties what it wrote, whoever wrote it: a test with
    real commits that has an isolation fixture (one with none is neither rolled back nor cleaned)."""
    return (
        ISOLATION_FIXTURE in getattr(item, "fixturenames", ()) and isolation_mode(item) == "commit"
    )
