"""The lock and rewrite trace of a migration history: each revision upgraded, alone, on a PostgreSQL
database whose every table holds rows, with every statement observed (``observe.py``).

Before each revision the tables get their rows (``populate.py``: the ones the previous revision
created get them now), so each revision meets tables as a deployment would, and only tables that
existed before it are watched: what a revision does to the tables it creates blocks nobody.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg
from alembic.script import Script
from sqlalchemy.engine import Connection, make_url

from alembic import command
from pytest_dbharness.migration_checks import revisions_base_to_head
from pytest_dbharness.migration_safety.observe import (
    ExistingTable,
    Hold,
    Statement,
    Tracer,
    first_line,
)
from pytest_dbharness.migration_safety.populate import SKIPPED_TABLES, populate
from pytest_dbharness.project import current_project

_TABLES = (
    "SELECT c.oid, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE c.relkind IN ('r', 'p', 'm') AND n.nspname = current_schema()"
)
_INVALID_INDEXES = (
    "SELECT i.indexrelid::regclass::text, i.indrelid::regclass::text FROM pg_index i "
    "JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE NOT i.indisvalid AND n.nspname = current_schema()"
)


@dataclass
class RevisionTrace:
    """What upgrading one revision did to the tables that existed before it."""

    script: Script
    tables: dict[str, ExistingTable] = field(default_factory=dict)
    statements: list[Statement] = field(default_factory=list)
    holds: list[Hold] = field(default_factory=list)
    invalid_indexes: list[str] = field(default_factory=list)
    """Indexes left invalid (``pg_index.indisvalid``) after the upgrade, as "index on table"."""
    error: str | None = None
    """The upgrade failed on the populated database: why."""
    not_traced: str | None = None


def trace_history(
    connection: Connection,
    *,
    rows: int,
    values: Mapping[str, str] | None = None,
    only: Sequence[str] = (),
) -> list[RevisionTrace]:
    """Trace every revision, oldest first, on the empty database ``connection`` is on.

    With ``only``, the revisions before the first one named are upgraded untraced, and only the
    named ones are traced (the checker's own tests use it for their scratch revisions).
    """
    observer = psycopg.connect(_conninfo(connection), autocommit=True)
    traces: list[RevisionTrace] = []
    try:
        scripts = revisions_base_to_head()
        first = min((i for i, s in enumerate(scripts) if s.revision in only), default=0)
        if first:
            _upgrade(connection, scripts[first - 1].revision)
        for script in scripts[first:]:
            if traces and traces[-1].error is not None:
                traces.append(RevisionTrace(script, not_traced="an earlier revision failed"))
            elif not only or script.revision in only:
                traces.append(_trace_revision(connection, observer, script, rows, values or {}))
            else:
                _upgrade(connection, script.revision)
    finally:
        observer.close()
    return traces


def _trace_revision(
    connection: Connection,
    observer: psycopg.Connection[Any],
    script: Script,
    rows: int,
    values: Mapping[str, str],
) -> RevisionTrace:
    counts = populate(connection, rows=rows, values=values).rows
    connection.commit()
    tables = [
        ExistingTable(int(oid), str(name), counts.get(str(name), 0))
        for oid, name in observer.execute(_TABLES)
        if name not in SKIPPED_TABLES
    ]
    trace = RevisionTrace(script, tables={table.name: table for table in tables})
    with Tracer(connection, observer, tables) as tracer:
        try:
            _upgrade(connection, script.revision)
        except Exception as error:
            trace.error = first_line(error)
            connection.rollback()
    trace.statements, trace.holds = tracer.statements, tracer.holds
    trace.invalid_indexes = [
        f"{index} on {table}" for index, table in observer.execute(_INVALID_INDEXES)
    ]
    return trace


def _upgrade(connection: Connection, revision: str) -> None:
    command.upgrade(current_project().alembic_config(connection=connection), revision)


def _conninfo(connection: Connection) -> str:
    url = connection.engine.url.set(drivername="postgresql")
    return make_url(url).render_as_string(hide_password=False)
