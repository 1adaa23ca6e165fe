"""Driving Alembic against a scratch database and describing schemas, for the migration checks.

Every message names the engine and the revision, so a failure says where to look.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import Any, TypeVar

from alembic.autogenerate import compare_metadata, produce_migrations, render_python_code
from alembic.runtime.migration import MigrationContext
from alembic.script import Script, ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy.engine import Connection
from sqlalchemy.engine.interfaces import ReflectedColumn
from sqlalchemy.ext.asyncio import AsyncEngine

from alembic import command
from pytest_dbharness.backends import migration_engine
from pytest_dbharness.backends.hooks import engine_hook
from pytest_dbharness.project import current_project
from pytest_dbharness.schema import (
    current_revision,
    failing_revision,
    revision_title,
    run_alembic,
)

T = TypeVar("T")
Schema = dict[str, Any]


def script_directory() -> ScriptDirectory:
    return ScriptDirectory.from_config(current_project().alembic_config())


def revisions_base_to_head() -> list[Script]:
    """Every revision, oldest first."""
    return list(reversed(list(script_directory().walk_revisions())))


def describe(revision: str | None) -> str:
    if revision is None:
        return "base"
    script = script_directory().get_revision(revision)
    return revision_title(script) if script is not None else revision


class MigrationDriver:
    """Upgrades, downgrades and inspects one database through the app's own engine setup."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine: AsyncEngine = migration_engine(url)
        self.engine_name = self.engine.dialect.name

    async def __aenter__(self) -> MigrationDriver:
        return self

    async def __aexit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        await self.engine.dispose()

    async def run(self, work: Callable[[Connection], T]) -> T:
        async with self.engine.connect() as connection:
            result = await connection.run_sync(work)
            await connection.commit()
        return result

    async def upgrade(self, revision: str = "head") -> None:
        await self.run(lambda c: run_alembic(command.upgrade, c, revision))

    async def downgrade(self, revision: str) -> None:
        await self.run(lambda c: run_alembic(command.downgrade, c, revision))

    async def stamp(self, revision: str) -> None:
        await self.run(lambda c: run_alembic(command.stamp, c, revision))

    async def attempt(self, action: str, step: Awaitable[None]) -> str | None:
        """Run a migration step; None when it worked, else a line naming engine, revision, error."""
        try:
            await step
        except Exception as error:
            reason = str(getattr(error, "orig", None) or error).strip().splitlines()
            revision = failing_revision(error) or "(no revision file in the traceback)"
            return (
                f"[{self.engine_name}] {action} failed in revision {revision}: "
                f"{reason[0] if reason else type(error).__name__}"
            )
        return None

    async def current(self) -> str | None:
        return await self.run(current_revision)

    async def schema(self) -> Schema:
        with _quiet_sqlite_expression_indexes():
            return await self.run(schema_of)

    async def model_differences(self) -> tuple[list[Any], str]:
        """Autogenerate's comparison with the models, and the operations it would write."""
        return await self.run(_model_differences)


def _model_differences(connection: Connection) -> tuple[list[Any], str]:
    with _quiet_sqlite_expression_indexes():
        return _compare_with_models(connection)


def _compare_with_models(connection: Connection) -> tuple[list[Any], str]:
    context = MigrationContext.configure(
        connection,
        opts={
            "compare_type": True,
            "compare_server_default": True,
            # SQLite: ALTER TABLE is limited, so autogenerate writes batch operations there.
            **engine_hook(connection.dialect.name, "migration_context_options", dict)(),
            "target_metadata": current_project().metadata,
        },
    )
    differences = compare_metadata(context, current_project().metadata)
    operations = produce_migrations(context, current_project().metadata)
    return differences, render_python_code(operations.upgrade_ops)  # type: ignore[arg-type]


def _normalise_sql(text: Any) -> str:
    return re.sub(r"[\s()\"]+", " ", str(text)).strip().lower()


def _type_name(column: ReflectedColumn, connection: Connection) -> str:
    try:
        return str(column["type"].compile(dialect=connection.dialect))
    except Exception:
        return repr(column["type"])


@contextmanager
def _quiet_sqlite_expression_indexes() -> Iterator[None]:
    # SQLAlchemy cannot reflect SQLite's expression indexes and warns; schema_of reads them
    # from sqlite_master instead, and autogenerate then leaves them out of its comparison.
    # Autogenerate says so too; PostgreSQL, where it can compare them, still checks them.
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message="Skipped unsupported reflection of expression-based index"
        )
        warnings.filterwarnings("ignore", message="autogenerate skipping metadata-specified")
        yield


def _indexes(connection: Connection, inspector: Any, table: str) -> list[tuple[Any, ...]]:
    # SQLite: read from its catalog, where reflection misses expression indexes.
    own = engine_hook(connection.dialect.name, "describe_indexes")
    if own is not None:
        return sorted(own(connection, table, _normalise_sql))
    return sorted(
        (
            index["name"],
            tuple(str(c) for c in index["column_names"]),
            tuple(_normalise_sql(e) for e in index.get("expressions") or ()),
            bool(index["unique"]),
            _normalise_sql((index.get("dialect_options") or {}).get("postgresql_where") or ""),
        )
        for index in inspector.get_indexes(table)
    )


def _never_reuses_ids(connection: Connection, table: str) -> bool | None:
    """Whether the engine says the table never hands out an id again (SQLite: AUTOINCREMENT,
    which reflection does not show); None where ids never come back anyway (sequences)."""
    own = engine_hook(connection.dialect.name, "ids_never_reused")
    return None if own is None else bool(own(connection, table))


def schema_of(connection: Connection) -> Schema:
    """Tables with columns, keys, indexes and constraints; PostgreSQL enum types and sequences."""
    inspector = inspect(connection)
    tables: Schema = {}
    # alembic_version is Alembic's bookkeeping, not the schema under test.
    for table in sorted(set(inspector.get_table_names()) - {"alembic_version"}):
        tables[table] = {
            "columns": {
                column["name"]: (
                    _type_name(column, connection),
                    column["nullable"],
                    _normalise_sql(column.get("default")) if column.get("default") else None,
                )
                for column in inspector.get_columns(table)
            },
            "primary key": tuple(inspector.get_pk_constraint(table)["constrained_columns"]),
            "ids never reused": _never_reuses_ids(connection, table),
            "indexes": _indexes(connection, inspector, table),
            "unique constraints": sorted(
                (unique["name"], tuple(unique["column_names"]))
                for unique in inspector.get_unique_constraints(table)
            ),
            "check constraints": sorted(
                (check["name"], _normalise_sql(check["sqltext"]))
                for check in inspector.get_check_constraints(table)
            ),
            "foreign keys": sorted(
                (
                    fk["name"],
                    tuple(fk["constrained_columns"]),
                    fk["referred_table"],
                    tuple(fk["referred_columns"]),
                    (fk.get("options") or {}).get("ondelete"),
                )
                for fk in inspector.get_foreign_keys(table)
            ),
        }
    schema: Schema = {"tables": tables}
    # PostgreSQL: enum types and sequences, objects of their own outside the tables.
    extra = engine_hook(connection.dialect.name, "describe_schema_objects")
    if extra is not None:
        schema.update(extra(inspector))
    return schema


def schema_differences(before: Any, after: Any, path: str = "") -> list[str]:
    """What changed between two schema descriptions, one line per difference."""
    if isinstance(before, dict) and isinstance(after, dict):
        lines = []
        for key in sorted(set(before) | set(after), key=str):
            where = f"{path} / {key}" if path else str(key)
            if key not in after:
                lines.append(f"{where}: gone{_brief(before[key])}")
            elif key not in before:
                lines.append(f"{where}: appeared{_brief(after[key])}")
            else:
                lines.extend(schema_differences(before[key], after[key], where))
        return lines
    return [] if before == after else [f"{path}: {before!r} became {after!r}"]


def _brief(value: Any) -> str:
    """A value worth quoting (a column, a constraint); whole tables are just named."""
    return "" if isinstance(value, dict) else f" ({value!r})"
