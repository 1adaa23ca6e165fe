"""The migration history itself: one head, every model registered, every data migration checked,
and SQL a DBA can review."""

from __future__ import annotations

import importlib
import io
import pkgutil
import re
from pathlib import Path

from pytest_dbharness.migration_checks import revisions_base_to_head, script_directory

import backend
from alembic import command
from backend.migrations import alembic_config
from backend.models import Base
from backend.tests.migrations.test_data_migrations import DATA_MIGRATION_CHECKS


def test_the_history_has_one_head_and_no_unmerged_branch() -> None:
    heads = script_directory().get_heads()
    assert len(heads) == 1, (
        f"the history has {len(heads)} heads {heads}: merge them with "
        f"`uv run alembic merge -m 'merge' {' '.join(heads)}`"
    )


# A revision file's `revision = "…"` line, typed (`alembic revision`'s template) or not (by hand).
REVISION_LINE = re.compile(r"""^revision(?:\s*:\s*str)?\s*=\s*["'](\w+)["']""", re.MULTILINE)


def test_every_revision_is_reachable_from_head() -> None:
    reachable = {script.revision for script in revisions_base_to_head()}
    on_disk = {
        match.group(1)
        for path in Path(script_directory().versions).glob("*.py")
        if (match := REVISION_LINE.search(path.read_text()))
    }
    assert on_disk == reachable, (
        f"revision files not on the path to head: {sorted(on_disk - reachable)}; revisions "
        f'whose file has no `revision = "…"` line: {sorted(reachable - on_disk)}'
    )


def test_every_model_is_on_the_metadata_alembic_compares() -> None:
    # Import every module of the package: a model defined anywhere registers its mapper.
    for module in pkgutil.walk_packages(backend.__path__, "backend."):
        # The locustfile is locust's to import (it monkey-patches the process with gevent).
        if ".tests" not in module.name and not module.name.endswith(
            ("cli", "__main__", "locustfile")
        ):
            importlib.import_module(module.name)
    missing = [
        mapper.class_.__name__
        for mapper in Base.registry.mappers
        if mapper.local_table is not None
        and Base.metadata.tables.get(mapper.local_table.name) is not mapper.local_table
    ]
    assert not missing, f"models whose tables are not on backend.models.Base.metadata: {missing}"
    env = (Path(script_directory().dir) / "env.py").read_text()
    assert "target_metadata = Base.metadata" in env
    assert "from backend.models import Base" in env


DATA_MIGRATION_SIGNS = re.compile(
    r"op\.get_bind\(\)|sa\.table\(|op\.bulk_insert\(|\b(UPDATE|INSERT INTO|DELETE FROM)\b"
)


def test_every_data_migration_has_a_data_check() -> None:
    # A revision that reads or writes rows changes data: it takes the connection, uses a table
    # stub, inserts in bulk, or runs DML in SQL. (op.execute of DDL alone is not a data migration.)
    data_revisions = {
        script.revision
        for script in revisions_base_to_head()
        if DATA_MIGRATION_SIGNS.search(Path(script.path).read_text())
    }
    unchecked = data_revisions - set(DATA_MIGRATION_CHECKS)
    assert not unchecked, (
        f"data migrations without a check in test_data_migrations.py: {sorted(unchecked)}"
    )


def test_offline_sql_renders_for_postgresql() -> None:
    buffer = io.StringIO()
    config = alembic_config(url="postgresql+psycopg://reviewer@localhost/review")
    config.output_buffer = buffer
    command.upgrade(config, "head", sql=True)
    sql = buffer.getvalue()
    assert "CREATE TABLE auth_user" in sql
    assert "CREATE TABLE context_members" in sql
    assert "UPDATE contexts SET slug" in sql
    assert (
        "CREATE UNIQUE INDEX CONCURRENTLY uq_auth_user_email_lower ON auth_user (lower(email))"
        in sql
    )
    # What `backend migrate` sets on PostgreSQL, for whoever runs the script by hand.
    assert sql.startswith("SET lock_timeout = '5s';\nSET statement_timeout = '1h';\n")
    assert "JSONB" in sql
    head = revisions_base_to_head()[-1].revision
    assert f"UPDATE alembic_version SET version_num='{head}'" in sql  # noqa: S608 - expected text
