"""Which isolation a test runs with, and the keys its reports carry to the summary."""

from __future__ import annotations

import pytest

from pytest_dbharness.harness import harness_of

# Set on a test's reports when one of its statements read the transaction's clock (the summary
# lists them; user properties reach the controller from xdist workers).
CLOCK_READ = "read_the_transaction_clock"


def isolation_mode(item: pytest.Item) -> str:
    """``commit`` for a test marked ``committed`` or in a ``--isolation commit`` run."""
    if item.get_closest_marker("committed"):
        return "commit"
    return harness_of(item.config).options.isolation
