"""pytest-alembic's built-in migration tests, a second opinion next to the project's own checks.

Imported, as its documentation allows, rather than enabled with ``--test-alembic``: pytest-alembic
0.13.1's collector for that flag fails on pytest 9 (``'TestCollector' object has no attribute
'_nodeid'``). They run on the run's engine (``--db``), through ``alembic/env.py`` as it is, with
the app's own async engine (``conftest.py``).
"""

import pytest
from pytest_alembic.tests.default import (
    test_model_definitions_match_ddl,
    test_single_head_revision,
    test_up_down_consistency,
    test_upgrade,
)
from pytest_alembic.tests.experimental.downgrade_leaves_no_trace import (
    test_downgrade_leaves_no_trace,
)

# SQLAlchemy cannot reflect SQLite's expression index on lower(email) and says so; the project's own
# checks (harness/src/pytest_dbharness/migration_checks.py) compare that index, so here the warning is expected.
pytestmark = pytest.mark.filterwarnings(
    "ignore:Skipped unsupported reflection of expression-based index:sqlalchemy.exc.SAWarning"
)

__all__ = [
    "test_downgrade_leaves_no_trace",
    "test_model_definitions_match_ddl",
    "test_single_head_revision",
    "test_up_down_consistency",
    "test_upgrade",
]
