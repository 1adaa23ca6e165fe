"""The engine registry: the name ``--db`` takes is the key, and is spelt here only.

Everything else (the ``--db`` choices, the ``<name>_only`` markers, which functions a worker calls
for the ``Provisioned`` record it received) is looked up here.
"""

from __future__ import annotations

from backend.testing.backends import postgres, sqlite
from backend.testing.backends.base import Controller, Engine, Provisioned, Report

ENGINES: dict[str, Engine] = {
    "sqlite": Engine(
        label="SQLite",
        dialect="sqlite",
        controller=sqlite.SQLiteController,
        clone=sqlite.clone,
        create_empty=sqlite.create_empty,
        drop=sqlite.drop,
    ),
    "postgres": Engine(
        label="PostgreSQL",
        dialect="postgresql",
        controller=postgres.PostgresController,
        clone=postgres.clone,
        create_empty=postgres.create_empty,
        drop=postgres.drop,
        aliases=("postgresql", "pg"),
    ),
}


def engine_of(provisioned: Provisioned) -> Engine:
    """The functions for the engine that provisioned this record, in any process."""
    return ENGINES[provisioned.engine]


def engine_for_dialect(dialect: str) -> str:
    """The registry key of the engine SQLAlchemy calls ``dialect``."""
    return next(name for name, engine in ENGINES.items() if engine.dialect == dialect)


def only_marker(name: str) -> str:
    """The marker of tests meaningful on this engine only: ``postgres_only``."""
    return f"{name}_only"


__all__ = [
    "ENGINES",
    "Controller",
    "Engine",
    "Provisioned",
    "Report",
    "engine_for_dialect",
    "engine_of",
    "only_marker",
]
