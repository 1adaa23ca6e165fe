"""Every revision can be deployed against a live PostgreSQL, or says in a declaration why it may not.

Each revision is upgraded alone on a database whose every table holds rows, with each statement's
locks, rewrites and scans measured, and its offline SQL is linted by squawk; then no index may be
left invalid. The table of every revision is printed at the end of the run (conftest.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pytest_dbharness.migration_checks import MigrationDriver
from pytest_dbharness.migration_safety.report import check_history

from backend.config import PROJECT_ROOT
from backend.tests.migrations.conftest import SAFETY_REPORT

# Enough rows that scans, rewrites and back-fills do real work (and show in the holds), few enough
# that the per-row loop of the slug back-fill stays within seconds on the harness's server.
ROWS = 2000
SQUAWK_CONFIG = PROJECT_ROOT / ".squawk.toml"

pytestmark = pytest.mark.postgres_only(
    reason="the lock and rewrite trace and squawk's rules are PostgreSQL's: SQLite takes one "
    "lock for the whole database and has no concurrent writers for a migration to block"
)


async def test_every_revision_is_safe_to_deploy_or_says_why_not(
    empty_database_url: str, tmp_path: Path, record_property: pytest.RecordProperty
) -> None:
    async with MigrationDriver(empty_database_url) as db:
        report = await db.run(
            lambda connection: check_history(
                connection, rows=ROWS, squawk_config=SQUAWK_CONFIG, workdir=tmp_path
            )
        )
    record_property(SAFETY_REPORT, report.table())
    assert not report.failures, "\n".join(report.failures)
