"""Reference isolation strategies the benchmark compares the harness with (its runs only).

Loaded with ``-p backend.bench.strategies``; ``BACKEND_BENCH_STRATEGY`` chooses one, whose module
is then registered as a plugin after the harness's fixtures, so its fixtures replace the harness's
``db_sessionmaker`` (and ``db_engine``) for the whole run. The harness itself is unchanged.
"""

from __future__ import annotations

import importlib
import os

import pytest

STRATEGY_ENV = "BACKEND_BENCH_STRATEGY"
# What the harness does: savepoints in one outer transaction per test, rolled back.
HARNESS = "savepoint"
# Strategy name -> module providing its fixtures.
REFERENCES = {
    "database-per-test": "backend.bench.strategies.database_per_test",
    "truncate": "backend.bench.strategies.truncate",
}


def pytest_configure(config: pytest.Config) -> None:
    name = os.environ.get(STRATEGY_ENV, HARNESS)
    if name == HARNESS:
        return
    if name not in REFERENCES:
        raise pytest.UsageError(
            f"{STRATEGY_ENV}={name!r}: choose one of {HARNESS}, {', '.join(REFERENCES)}"
        )
    config.pluginmanager.register(importlib.import_module(REFERENCES[name]), f"bench-{name}")
