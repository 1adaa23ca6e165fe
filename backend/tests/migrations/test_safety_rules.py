"""The migration safety check catches what blocks a live database, and lets the safe patterns pass.

Each test puts one scratch revision on a small history of its own (two tables, in a temporary
folder, run through the project's env.py) and checks it, as ``nox -s migrations`` checks each one:
nothing the project's history holds, or gains, can collide with what the tests add.
"""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Callable
from pathlib import Path
from textwrap import dedent, indent

import pytest
import pytest_dbharness.project as harness_project
from pytest_dbharness.migration_checks import MigrationDriver
from pytest_dbharness.migration_safety.report import SafetyReport, check_history

from backend.migrations import alembic_config
from backend.tests.migrations.test_safety import ROWS, SQUAWK_CONFIG

SCRATCH = "safety_check_scratch"

pytestmark = pytest.mark.postgres_only(
    reason="the checker traces PostgreSQL's locks and lints with PostgreSQL's rules"
)


BASE = '''"""Accounts and their notes: the base of the safety checker's tests.

Revision ID: safety_check_base
Revises:
"""

import sqlalchemy as sa

from alembic import op

revision = "safety_check_base"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("name", sa.String(150), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.CheckConstraint("kind IN ('personal', 'team')", name="ck_accounts_kind"),
    )
    op.create_table(
        "notes",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("notes")
    op.drop_table("accounts")
'''


@pytest.fixture
def history_with(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[str, str], Path]:
    """BASE and one scratch revision, through the project's own env.py, as the harness's history."""
    source = Path(alembic_config().get_main_option("script_location") or "alembic")
    folder = tmp_path / "alembic"
    (folder / "versions").mkdir(parents=True)
    for name in ("env.py", "script.py.mako"):
        shutil.copy(source / name, folder / name)
    (folder / "versions" / "base.py").write_text(BASE)

    def configured(url: str | None = None, connection: object = None) -> object:
        config = alembic_config(url=url, connection=connection)  # type: ignore[arg-type]
        config.set_main_option("script_location", str(folder))
        return config

    project = harness_project.current_project()
    monkeypatch.setattr(
        harness_project, "_current", dataclasses.replace(project, alembic_config=configured)
    )

    def add(upgrade: str, module_level: str = "") -> Path:
        path = folder / "versions" / "scratch.py"
        path.write_text(_revision(upgrade, module_level))
        return path

    return add


def _revision(upgrade: str, module_level: str) -> str:
    return (
        f'"""Scratch revision of a safety check.\n\nRevision ID: {SCRATCH}\nRevises: '
        f'safety_check_base\n"""\n\nimport sqlalchemy as sa\n\nfrom alembic import op\n\n'
        f'revision = "{SCRATCH}"\ndown_revision = "safety_check_base"\nbranch_labels = None\n'
        f"depends_on = None\n{dedent(module_level)}\n\ndef upgrade() -> None:\n"
        f"{indent(dedent(upgrade), '    ')}\n\ndef downgrade() -> None:\n    pass\n"
    )


async def check(url: str, workdir: Path) -> SafetyReport:
    async with MigrationDriver(url) as db:
        return await db.run(
            lambda connection: check_history(
                connection, rows=ROWS, squawk_config=SQUAWK_CONFIG, workdir=workdir, only=[SCRATCH]
            )
        )


DANGEROUS = {
    "a NOT NULL column without a default": (
        'op.add_column("accounts", sa.Column("nickname", sa.String(50), nullable=False))',
        ["fails-on-existing-rows on accounts", "squawk adding-required-field on accounts"],
    ),
    "a plain index": (
        'op.create_index("ix_accounts_name", "accounts", ["name"])',
        ["scan-under-lock on accounts", "squawk require-concurrent-index-creation on accounts"],
    ),
    "a column type change": (
        'op.alter_column("accounts", "kind", type_=sa.Text(), existing_type=sa.String(16))\n'
        'op.alter_column("accounts", "id", type_=sa.BigInteger(), existing_type=sa.Integer())',
        ["rewrite-under-lock on accounts", "squawk changing-column-type on accounts"],
    ),
    "a foreign key without NOT VALID": (
        'op.create_foreign_key("fk_notes_account_id_accounts", "notes", "accounts", '
        '["account_id"], ["id"])',
        [
            "scan-under-lock on notes",
            "scan-under-lock on accounts",
            "squawk constraint-missing-not-valid on accounts, notes",
            "squawk adding-foreign-key-constraint on accounts, notes",
        ],
    ),
    "a back-fill of a whole table in the revision's transaction": (
        "op.execute(\"UPDATE accounts SET name = 'x'\")",
        ["backfill-in-one-transaction on accounts"],
    ),
    "a concurrent build that fails and leaves an invalid index": (
        """
        with op.get_context().autocommit_block():
            op.create_index(
                "uq_accounts_kind", "accounts", ["kind"], unique=True,
                postgresql_concurrently=True,
            )
        """,
        ["fails-on-existing-rows on accounts", "invalid-index-left on accounts"],
    ),
}


@pytest.mark.parametrize(("upgrade", "expected"), DANGEROUS.values(), ids=DANGEROUS.keys())
async def test_a_dangerous_revision_fails_naming_itself_the_rule_and_the_table(
    history_with: Callable[[str, str], Path],
    empty_database_url: str,
    tmp_path: Path,
    upgrade: str,
    expected: list[str],
) -> None:
    path = history_with(upgrade, "")
    report = await check(empty_database_url, tmp_path)
    failures = "\n".join(report.failures)
    for rule_on_table in expected:
        assert f"{path.name} (revision {SCRATCH}): {rule_on_table}" in failures, failures
    assert "safe pattern: " in failures
    assert f"({ROWS} rows)" in failures, "the table's rows are named"


SAFE = {
    "an index built CONCURRENTLY in an autocommit block": """
        with op.get_context().autocommit_block():
            op.drop_index(
                "ix_accounts_name", table_name="accounts", if_exists=True,
                postgresql_concurrently=True,
            )
            op.create_index(
                "ix_accounts_name", "accounts", ["name"], postgresql_concurrently=True
            )
        """,
    "a nullable column": 'op.add_column("accounts", sa.Column("nickname", sa.String(50)))',
    "a foreign key NOT VALID, validated in a transaction of its own": """
        op.create_foreign_key(
            "fk_notes_account_id_accounts", "notes", "accounts", ["account_id"], ["id"],
            postgresql_not_valid=True,
        )
        with op.get_context().autocommit_block():
            op.execute("ALTER TABLE notes VALIDATE CONSTRAINT fk_notes_account_id_accounts")
        """,
    "a back-fill in committed batches": """
        with op.get_context().autocommit_block():
            for first in range(0, 2000, 500):
                op.execute(
                    f"UPDATE accounts SET name = 'x' WHERE id > {first} AND id <= {first + 500}"
                )
        """,
}


@pytest.mark.parametrize("upgrade", SAFE.values(), ids=SAFE.keys())
async def test_a_safe_revision_passes(
    history_with: Callable[[str, str], Path], empty_database_url: str, tmp_path: Path, upgrade: str
) -> None:
    history_with(upgrade, "")
    report = await check(empty_database_url, tmp_path)
    assert not report.failures, "\n".join(report.failures)
    assert report.table().splitlines()[-1].endswith("| ok"), report.table()


DECLARED = """
dangerous_operations = [
    {
        "table": "accounts",
        "rules": ["scan-under-lock", "require-concurrent-index-creation"],
        "reason": "runs in the maintenance window of every deployment",
    },
]
"""


async def test_a_declared_danger_passes_and_its_reason_is_printed(
    history_with: Callable[[str, str], Path], empty_database_url: str, tmp_path: Path
) -> None:
    history_with('op.create_index("ix_accounts_name", "accounts", ["name"])', DECLARED)
    report = await check(empty_database_url, tmp_path)
    assert not report.failures, "\n".join(report.failures)
    table = report.table()
    assert f"{SCRATCH} declares, because runs in the maintenance window" in table
    assert f"scan-under-lock: read all of accounts ({ROWS} rows) under SHARE" in table


async def test_a_declaration_that_matches_nothing_fails(
    history_with: Callable[[str, str], Path], empty_database_url: str, tmp_path: Path
) -> None:
    history_with('op.add_column("accounts", sa.Column("nickname", sa.String(50)))', DECLARED)
    report = await check(empty_database_url, tmp_path)
    failures = "\n".join(report.failures)
    assert "declares scan-under-lock on accounts, but neither the trace nor squawk" in failures
    assert "remove it from dangerous_operations" in failures
