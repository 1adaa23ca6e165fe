"""Adopting a database that Django created: check its ``auth_user``, then stamp our baseline.

Our first revision creates ``auth_user`` exactly as Django does, so a Django-era database is
already at that revision in all but name. Adoption checks that claim column by column before
recording it, and changes nothing when it does not hold.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Boolean, DateTime, Integer, String, inspect
from sqlalchemy.engine import Connection
from sqlalchemy.engine.interfaces import ReflectedColumn
from sqlalchemy.types import TypeEngine

from alembic import command
from backend.migrations import alembic_config, current_revision

BASELINE_REVISION = "0f3a2c1d9b01"


class AdoptionError(Exception):
    """The database cannot be adopted; the message says why and what to do."""


@dataclass(frozen=True)
class ExpectedColumn:
    kind: type[TypeEngine[Any]]
    nullable: bool
    length: int | None = None


# Django's auth_user since Django 3.1 (username and names 150, email 254).
DJANGO_AUTH_USER = {
    "id": ExpectedColumn(Integer, nullable=False),
    "password": ExpectedColumn(String, nullable=False, length=128),
    "last_login": ExpectedColumn(DateTime, nullable=True),
    "is_superuser": ExpectedColumn(Boolean, nullable=False),
    "username": ExpectedColumn(String, nullable=False, length=150),
    "first_name": ExpectedColumn(String, nullable=False, length=150),
    "last_name": ExpectedColumn(String, nullable=False, length=150),
    "email": ExpectedColumn(String, nullable=False, length=254),
    "is_staff": ExpectedColumn(Boolean, nullable=False),
    "is_active": ExpectedColumn(Boolean, nullable=False),
    "date_joined": ExpectedColumn(DateTime, nullable=False),
}


def auth_user_differences(connection: Connection) -> list[str]:
    """How this database's auth_user differs from Django's (empty when it matches)."""
    inspector = inspect(connection)
    if "auth_user" not in inspector.get_table_names():
        return ["there is no auth_user table (is this a Django database?)"]
    columns = {column["name"]: column for column in inspector.get_columns("auth_user")}
    problems = [f"column {name} is missing" for name in DJANGO_AUTH_USER if name not in columns]
    problems += [
        f"column {name} is not Django's" for name in columns if name not in DJANGO_AUTH_USER
    ]
    for name, expected in DJANGO_AUTH_USER.items():
        if name in columns:
            problems += _column_differences(name, columns[name], expected)
    if not _username_is_unique(connection):
        problems.append("username is not unique")
    return problems


def _column_differences(name: str, column: ReflectedColumn, expected: ExpectedColumn) -> list[str]:
    actual = column["type"]
    problems = []
    if not isinstance(actual, expected.kind):
        problems.append(f"column {name} is {actual}, expected {expected.kind.__name__}")
    elif expected.length is not None and getattr(actual, "length", None) != expected.length:
        problems.append(f"column {name} is {actual}, expected length {expected.length}")
    if bool(column["nullable"]) != expected.nullable:
        problems.append(f"column {name} is {'' if column['nullable'] else 'NOT '}NULL")
    return problems


def _username_is_unique(connection: Connection) -> bool:
    if connection.dialect.name == "sqlite":
        # Django writes "username varchar(150) NOT NULL UNIQUE": an automatic index that
        # SQLAlchemy's reflection leaves out, so ask SQLite itself.
        indexes = connection.exec_driver_sql("PRAGMA index_list('auth_user')").all()
        return any(
            unique
            and [row[2] for row in connection.exec_driver_sql(f"PRAGMA index_info('{name}')")]
            == ["username"]
            for _seq, name, unique, *_rest in indexes
        )
    inspector = inspect(connection)
    uniques: list[tuple[str | None, ...]] = [
        tuple(u["column_names"]) for u in inspector.get_unique_constraints("auth_user")
    ]
    uniques += [tuple(i["column_names"]) for i in inspector.get_indexes("auth_user") if i["unique"]]
    return ("username",) in uniques


def adopt(connection: Connection) -> None:
    """Record that the database is at our baseline revision, after checking that it is."""
    revision = current_revision(connection)
    if revision is not None:
        raise AdoptionError(
            f"the database is already managed by these migrations (revision {revision}); "
            "run `backend migrate` without --adopt-django"
        )
    problems = auth_user_differences(connection)
    if problems:
        raise AdoptionError(
            "this database's auth_user is not the one Django creates, so it cannot be adopted "
            f"(nothing was changed): {'; '.join(problems)}. Bring it up to date with Django's "
            "own migrations first (manage.py migrate auth), then adopt it."
        )
    command.stamp(alembic_config(connection=connection), BASELINE_REVISION)
