"""Representative rows for every table of a PostgreSQL database, as its schema stands, generated in SQL.

The lock and rewrite trace upgrades each revision on tables that hold rows, so that scans, rewrites
and back-fills do real work. Values come from each column's type, constraints and foreign keys
(parents first; a child row points at parent row ``1 + (n - 1) % parents``), one
``INSERT … SELECT … FROM generate_series`` per table: thousands of rows in milliseconds on tmpfs.
A column no rule fits is named in the error, with the way to give it a value.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import MetaData, Table, text, types
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.schema import CheckConstraint, Column, ForeignKeyConstraint, UniqueConstraint

# Alembic's own bookkeeping is not application data.
SKIPPED_TABLES = frozenset({"alembic_version"})
_LITERAL = re.compile(r"'((?:[^']|'')*)'")


class PopulationError(Exception):
    """A table could not be given rows; the message names the column and the way out."""


@dataclass(frozen=True)
class Populated:
    rows: dict[str, int]
    """Rows in every application table after populating."""


def populate(
    connection: Connection, *, rows: int, values: Mapping[str, str] | None = None
) -> Populated:
    """Bring every table up to ``rows`` rows (tables that hold more are left as they are).

    ``values`` maps ``"table.column"`` to an SQL expression of ``n`` (the row's number), for a
    column the rules below cannot fill, e.g. ``{"invoices.total": "n * 100"}``.
    """
    metadata = MetaData()
    metadata.reflect(bind=connection)
    counts: dict[str, int] = {}
    for table in metadata.sorted_tables:
        if table.name in SKIPPED_TABLES:
            continue
        have = _count(connection, table.name)
        if have < rows:
            _insert(connection, table, have, rows, counts, values or {})
            have = rows
        counts[table.name] = have
    for name in counts:
        connection.exec_driver_sql(f"ANALYZE {_quote(connection, name)}")
    return Populated(rows=counts)


def _count(connection: Connection, table: str) -> int:
    return int(
        connection.execute(text(f"SELECT count(*) FROM {_quote(connection, table)}")).scalar_one()
    )


def _quote(connection: Connection, name: str) -> str:
    return connection.dialect.identifier_preparer.quote(name)


def _insert(
    connection: Connection,
    table: Table,
    have: int,
    rows: int,
    counts: Mapping[str, int],
    values: Mapping[str, str],
) -> None:
    # Numbers above any an earlier fill used, so unique values never meet old ones.
    offset = have + rows if have else 0
    first, last = offset + 1, offset + rows - have
    joins, column_values = _foreign_key_values(connection, table, counts)
    checks = _check_literals(table)
    for column in table.columns:
        if column.name in column_values or _left_to_default(table, column):
            continue
        expression = values.get(f"{table.name}.{column.name}") or _value(column, checks)
        if expression is None:
            raise PopulationError(
                f"no rule makes values for {table.name}.{column.name} ({column.type}, NOT NULL, "
                f"no default): give one as an SQL expression of n, values="
                f'{{"{table.name}.{column.name}": "..."}}'
            )
        if expression != "NULL":
            column_values[column.name] = expression
    names = ", ".join(_quote(connection, name) for name in column_values)
    selected = ", ".join(column_values.values())
    ctes = f"WITH {', '.join(cte for cte, _join in joins)} " if joins else ""
    joined = " ".join(join for _cte, join in joins)
    insert = (
        f"{ctes}INSERT INTO {_quote(connection, table.name)} ({names}) "
        f"SELECT {selected} FROM generate_series({first}, {last}) AS g(n) {joined}"
    )
    try:
        # No parameters: a % in the SQL is the modulo operator, not a placeholder.
        connection.exec_driver_sql(insert.replace("%", "%%"))
    except DBAPIError as error:
        reason = (str(error.orig).strip().splitlines() or [type(error.orig).__name__])[0]
        raise PopulationError(
            f"generated rows for {table.name} were refused: {reason}; give the offending "
            f'column values as SQL expressions of n, values={{"{table.name}.COLUMN": "..."}}'
        ) from None


def _foreign_key_values(
    connection: Connection, table: Table, counts: Mapping[str, int]
) -> tuple[list[tuple[str, str]], dict[str, str]]:
    """Per foreign key, a numbered copy of the parent's keys and a join picking one per row."""
    joins: list[tuple[str, str]] = []
    column_values: dict[str, str] = {}
    for number, fk in enumerate(sorted(table.foreign_key_constraints, key=_fk_name)):
        parent = fk.referred_table
        parents = counts.get(parent.name, 0)
        if parent is table or not parents:
            if not all(column.nullable for column in fk.columns):
                raise PopulationError(
                    f"{table.name}.{', '.join(fk.column_keys)} must refer to a row of "
                    f"{parent.name}, which has none to refer to (a NOT NULL reference to "
                    "its own table, or a cycle): give a value with values={...}"
                )
            continue  # NULL
        alias = f"parent_{number}"
        keys = [element.column.name for element in fk.elements]
        listed = ", ".join(_quote(connection, key) for key in keys)
        joins.append(
            (
                f"{alias} AS (SELECT {listed}, row_number() OVER (ORDER BY {listed}) AS k "
                f"FROM {_quote(connection, parent.name)})",
                f"JOIN {alias} ON {alias}.k = 1 + (g.n - 1) % {parents}",
            )
        )
        for element in fk.elements:
            column_values[element.parent.name] = (
                f"{alias}.{_quote(connection, element.column.name)}"
            )
    return joins, column_values


def _fk_name(fk: ForeignKeyConstraint) -> str:
    return str(fk.name or ",".join(fk.column_keys))


def _left_to_default(table: Table, column: Column[Any]) -> bool:
    """Serial and identity keys, and columns with a default that need no unique values."""
    if column.identity is not None or column.computed is not None:
        return True
    default = str(column.server_default.arg) if column.server_default is not None else ""  # type: ignore[attr-defined]
    if "nextval(" in default:
        return True
    return bool(default) and not _is_unique(table, column)


def _is_unique(table: Table, column: Column[Any]) -> bool:
    groups = [set(c.columns.keys()) for c in table.constraints if isinstance(c, UniqueConstraint)]
    groups += [set(index.columns.keys()) for index in table.indexes if index.unique]
    return column.primary_key or any(column.name in group for group in groups)


def _check_literals(table: Table) -> dict[str, list[str]]:
    """String literals a CHECK names beside one column: an enumeration's allowed values."""
    literals: dict[str, list[str]] = {}
    for constraint in table.constraints:
        if not isinstance(constraint, CheckConstraint):
            continue
        sqltext = str(constraint.sqltext)
        mentioned = [
            c.name for c in table.columns if re.search(rf"\b{re.escape(c.name)}\b", sqltext)
        ]
        found = _LITERAL.findall(sqltext)
        if len(mentioned) == 1 and found:
            literals[mentioned[0]] = [value.replace("''", "'") for value in found]
    return literals


def _value(column: Column[Any], checks: Mapping[str, list[str]]) -> str | None:
    """An SQL expression of ``n`` fit for the column, or None when no rule knows its type."""
    if column.name in checks:
        return _cycle(checks[column.name])
    kind = column.type
    if isinstance(kind, postgresql.ENUM) and kind.enums:
        return f"{_cycle(list(kind.enums))}::{kind.name}"
    if isinstance(kind, types.Boolean):
        return "(g.n % 2 = 0)"
    if isinstance(kind, types.SmallInteger):
        return "(g.n % 32767)"
    if isinstance(kind, types.Integer | types.Numeric):
        return "g.n"
    if isinstance(kind, types.DateTime):
        return "(timestamptz '2024-01-01 00:00:00+00' + g.n * interval '1 minute')"
    if isinstance(kind, types.Date):
        return "(date '2024-01-01' + (g.n % 36500)::integer)"
    if isinstance(kind, types.Time):
        return "(time '00:00' + (g.n % 86400) * interval '1 second')"
    if isinstance(kind, types.Interval):
        return "(g.n * interval '1 second')"
    if isinstance(kind, types.JSON):
        return "'{}'"
    if isinstance(kind, types.Uuid | postgresql.UUID):
        return "md5(g.n::text)::uuid"
    if isinstance(kind, types.LargeBinary):
        return "decode(md5(g.n::text), 'hex')"
    if isinstance(kind, types.ARRAY):
        return "'{}'"
    if isinstance(kind, types.String):
        return _text_value(column)
    return "NULL" if column.nullable else None


def _text_value(column: Column[Any]) -> str:
    """'<column>-<n>', its number kept when the column is short, so unique columns stay unique."""
    length = getattr(column.type, "length", None)
    value = f"'{column.name}-' || g.n"
    return f"right({value}, {length})" if length else value


def _cycle(choices: list[str]) -> str:
    array = ", ".join("'" + choice.replace("'", "''") + "'" for choice in choices)
    return f"(ARRAY[{array}])[1 + (g.n - 1) % {len(choices)}]"
