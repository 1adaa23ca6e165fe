"""The migration safety check catches what blocks a live database, and lets the safe patterns pass.

Each test appends one scratch revision to a copy of the history (the project's own env.py and
revisions, in a temporary folder) and checks it alone, as ``nox -s migrations`` checks every one.
"""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Callable
from pathlib import Path
from textwrap import dedent, indent

import pytest

import backend.testing.project as harness_project
from backend.migrations import alembic_config, head_revision
from backend.testing.migration_checks import MigrationDriver
from backend.testing.migration_safety.report import SafetyReport, check_history
from backend.tests.migrations.test_safety import ROWS, SQUAWK_CONFIG

# An id no real revision will take: the checker must be testable whatever the history holds.
SCRATCH = "safety_check_scratch"

pytestmark = pytest.mark.postgres_only(
    reason="the checker traces PostgreSQL's locks and lints with PostgreSQL's rules"
)


@pytest.fixture
def history_with(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[str, str], Path]:
    """Copy the history into tmp_path, add a scratch revision, and make it the harness's."""
    source = Path(alembic_config().get_main_option("script_location") or "alembic")
    folder = tmp_path / "alembic"
    shutil.copytree(source, folder, ignore=shutil.ignore_patterns("__pycache__"))

    def configured(url: str | None = None, connection: object = None) -> object:
        config = alembic_config(url=url, connection=connection)  # type: ignore[arg-type]
        config.set_main_option("script_location", str(folder))
        return config

    project = harness_project.current_project()
    monkeypatch.setattr(
        harness_project, "_current", dataclasses.replace(project, alembic_config=configured)
    )

    def add(upgrade: str, module_level: str = "") -> Path:
        path = folder / "versions" / f"20990101_{SCRATCH}_scratch.py"
        path.write_text(_revision(upgrade, module_level))
        return path

    return add


def _revision(upgrade: str, module_level: str) -> str:
    return (
        f'"""Scratch revision of a safety check.\n\nRevision ID: {SCRATCH}\nRevises: '
        f'{head_revision()}\n"""\n\nimport sqlalchemy as sa\n\nfrom alembic import op\n\n'
        f'revision = "{SCRATCH}"\ndown_revision = "{head_revision()}"\nbranch_labels = None\n'
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
    "a NOT NULL column without a default on auth_user": (
        'op.add_column("auth_user", sa.Column("nickname", sa.String(50), nullable=False))',
        ["fails-on-existing-rows on auth_user", "squawk adding-required-field on auth_user"],
    ),
    "a plain index on contexts": (
        'op.create_index("ix_contexts_name", "contexts", ["name"])',
        ["scan-under-lock on contexts", "squawk require-concurrent-index-creation on contexts"],
    ),
    "a column type change on auth_user": (
        'op.alter_column("auth_user", "id", type_=sa.BigInteger(), existing_type=sa.Integer())',
        ["rewrite-under-lock on auth_user", "squawk changing-column-type on auth_user"],
    ),
    "a foreign key without NOT VALID": (
        'op.create_foreign_key("fk_contexts_owner_again", "contexts", "auth_user", '
        '["owner_id"], ["id"])',
        [
            "scan-under-lock on contexts",
            "scan-under-lock on auth_user",
            "squawk constraint-missing-not-valid on auth_user, contexts",
            "squawk adding-foreign-key-constraint on auth_user, contexts",
        ],
    ),
    "a back-fill of a whole table in the revision's transaction": (
        "op.execute(\"UPDATE auth_user SET first_name = 'x'\")",
        ["backfill-in-one-transaction on auth_user"],
    ),
    "a concurrent build that fails and leaves an invalid index": (
        """
        with op.get_context().autocommit_block():
            op.create_index(
                "uq_contexts_visibility", "contexts", ["visibility"], unique=True,
                postgresql_concurrently=True,
            )
        """,
        ["invalid-index-left on contexts"],
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
        assert f"(revision {SCRATCH}): {rule_on_table}" in failures, failures
    assert path.name in failures
    assert "safe pattern: " in failures
    assert f"{ROWS} rows" in failures or "squawk" in expected[0]


SAFE = {
    "an index built CONCURRENTLY in an autocommit block": """
        with op.get_context().autocommit_block():
            op.create_index(
                "ix_contexts_name", "contexts", ["name"], postgresql_concurrently=True
            )
        """,
    "a nullable column": 'op.add_column("auth_user", sa.Column("nickname", sa.String(50)))',
    "a foreign key NOT VALID, validated in a transaction of its own": """
        op.create_foreign_key(
            "fk_contexts_owner_again", "contexts", "auth_user", ["owner_id"], ["id"],
            postgresql_not_valid=True,
        )
        with op.get_context().autocommit_block():
            op.execute("ALTER TABLE contexts VALIDATE CONSTRAINT fk_contexts_owner_again")
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
        "table": "contexts",
        "rules": ["scan-under-lock", "require-concurrent-index-creation"],
        "reason": "runs in the maintenance window of every deployment",
    },
]
"""


async def test_a_declared_danger_passes_and_its_reason_is_printed(
    history_with: Callable[[str, str], Path], empty_database_url: str, tmp_path: Path
) -> None:
    history_with('op.create_index("ix_contexts_name", "contexts", ["name"])', DECLARED)
    report = await check(empty_database_url, tmp_path)
    assert not report.failures, "\n".join(report.failures)
    table = report.table()
    assert f"{SCRATCH} declares, because runs in the maintenance window" in table
    assert "scan-under-lock: read all of contexts (2000 rows) under SHARE" in table


async def test_a_declaration_that_matches_nothing_fails(
    history_with: Callable[[str, str], Path], empty_database_url: str, tmp_path: Path
) -> None:
    history_with('op.add_column("auth_user", sa.Column("nickname", sa.String(50)))', DECLARED)
    report = await check(empty_database_url, tmp_path)
    failures = "\n".join(report.failures)
    assert "declares scan-under-lock on contexts, but neither the trace nor squawk" in failures
    assert "remove it from dangerous_operations" in failures
