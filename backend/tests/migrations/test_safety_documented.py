"""The locks PostgreSQL documents for the statements the trace can only sample (no database)."""

from __future__ import annotations

import pytest
from pytest_dbharness.migration_safety.documented import documented_locks

# As PostgreSQL's regclass text names them: quoted where the name needs it.
INDEXES = {"ix_contexts_name": "contexts", '"Odd Index"': '"Odd Table"'}


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("CREATE INDEX CONCURRENTLY ix_contexts_name ON contexts (name)", "contexts"),
        (
            "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS u ON ONLY public.Auth_User (x)",
            "auth_user",
        ),
        ("DROP INDEX CONCURRENTLY IF EXISTS ix_contexts_name", "contexts"),
        ('REINDEX (VERBOSE) INDEX CONCURRENTLY "Odd Index"', "Odd Table"),
        ("REINDEX TABLE CONCURRENTLY contexts", "contexts"),
    ],
)
def test_the_concurrently_family_takes_share_update_exclusive_on_its_table(
    sql: str, expected: str
) -> None:
    assert documented_locks(sql, INDEXES.get) == {expected: {"ShareUpdateExclusiveLock"}}


@pytest.mark.parametrize(
    "sql",
    [
        "CREATE INDEX ix ON contexts (name)",  # measured in a transaction instead
        "DROP INDEX CONCURRENTLY IF EXISTS ix_that_is_not_there",
        "VACUUM contexts",
    ],
)
def test_other_statements_have_no_documented_lock_here(sql: str) -> None:
    assert documented_locks(sql, INDEXES.get) == {}
