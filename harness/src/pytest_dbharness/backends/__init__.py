"""The engine registry: the name ``--db`` takes is the key, and is spelt here only.

Everything else (the ``--db`` choices, the ``<name>_only`` markers, which functions a worker calls
for the ``Provisioned`` record it received) is looked up here. Each engine's module is imported on
first use: a SQLite run never loads psycopg, the PostgreSQL server machinery or pytest-postgresql
(about 50 ms of every process's start-up).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from pytest_dbharness.backends.base import Controller, Engine, Provisioned, Report
from pytest_dbharness.project import current_project

ENGINES: dict[str, Engine] = {
    "sqlite": Engine(label="SQLite", dialect="sqlite", module="pytest_dbharness.backends.sqlite"),
    "postgres": Engine(
        label="PostgreSQL",
        dialect="postgresql",
        module="pytest_dbharness.backends.postgres",
        aliases=("postgresql", "pg"),
    ),
}


def register(name: str, engine: Engine) -> None:
    """Add an engine from outside the plugin (a project's own, or a test's): ``--db name`` then
    provisions with its module, and ``@pytest.mark.<name>_only(reason=...)`` exists. Call it when
    the module defining the engine is imported by a plugin loaded before pytest is configured
    (``-p myproject.engine`` or an entry point)."""
    if name in ENGINES:
        raise ValueError(f"an engine named {name!r} is registered already")
    ENGINES[name] = engine


def engine_of(provisioned: Provisioned) -> Engine:
    """The functions for the engine that provisioned this record, in any process."""
    return ENGINES[provisioned.engine]


def engine_for_dialect(dialect: str) -> str:
    """The registry key of the engine SQLAlchemy calls ``dialect``."""
    return next(name for name, engine in ENGINES.items() if engine.dialect == dialect)


def engine_named_by(url: str) -> Engine:
    """The registry entry for the engine a database URL points at."""
    return ENGINES[engine_for_dialect(make_url(url).get_backend_name())]


def app_engine(url: str, **options: Any) -> AsyncEngine:
    """The app's own engine, as production makes it (the app's factory and driver, nothing
    added): where tests commit for real (``--isolation commit``, committed tests), so that their
    transactions, locks included, are production's."""
    project = current_project()
    return project.create_engine(project.url_for(url), **options)


def create_engine(url: str, **options: Any) -> AsyncEngine:
    """An engine whose transactions the harness nests (the rolled-back shared connection, the
    migrations): the app's own, with the engine's rules applied (``prepare_engine``: on SQLite,
    the savepoint workaround, which makes every read begin a transaction of its own)."""
    engine = app_engine(url, **options)
    prepare = engine_named_by(url).hook("prepare_engine")
    if prepare is not None:
        prepare(engine)
    return engine


def migration_engine(url: str, **options: Any) -> AsyncEngine:
    """The engine the harness migrates through (the template's build, the migration checks): one
    connection at a time, on a database nothing else uses. An engine may give it a transport of
    its own (``migration_engine`` hook; SQLite: no thread hop per statement)."""
    own = engine_named_by(url).hook("migration_engine")
    return own(url, **options) if own is not None else create_engine(url, **options)


def only_marker(name: str) -> str:
    """The marker of tests meaningful on this engine only: ``postgres_only``."""
    return f"{name}_only"


__all__ = [
    "ENGINES",
    "Controller",
    "Engine",
    "Provisioned",
    "Report",
    "app_engine",
    "create_engine",
    "engine_for_dialect",
    "engine_named_by",
    "engine_of",
    "only_marker",
    "register",
]
