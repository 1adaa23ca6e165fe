"""SQLite: the template is a migrated file cached between runs; a worker's clone is a copy of it."""

from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from pytest_dbharness.backends.base import Controller, Provisioned, Report
from pytest_dbharness.schema import SchemaBuildError, migrate, schema_key


class SQLiteController(Controller):
    def provision(self) -> Provisioned:
        report = Report(engine=self.engine, server=f"SQLite {sqlite3.sqlite_version}")
        report.location = f"embedded, files in {self.run_dir.path}"
        template = Path(self.cache_dir) / f"sqlite-{schema_key()}.sqlite3"
        template_error = ""
        if template.exists() and not self.options.rebuild_schema:
            report.cache = "hit"
            report.revision = _revision_of(template)
        else:
            report.cache = "rebuilt" if template.exists() else "miss"
            try:
                with report.phase("migrations"):
                    report.revision = _build_template(template, self.run_dir.path)
            except SchemaBuildError as error:
                template_error, report.revision = str(error), "NOT BUILT"
        return Provisioned(
            engine=self.engine,
            run_id=self.run_dir.run_id,
            run_dir=str(self.run_dir.path),
            template=str(template),
            report=report,
            template_error=template_error,
        )

    def teardown(self) -> None:
        """Worker files live in the run directory, which the plugin removes."""


def clone(provisioned: Provisioned, worker: str) -> str:
    target = Path(provisioned.run_dir) / f"{worker}.sqlite3"
    shutil.copyfile(provisioned.template, target)
    return f"sqlite+aiosqlite:///{target}"


def create_empty(provisioned: Provisioned, name: str) -> str:
    target = Path(provisioned.run_dir) / f"{name}.sqlite3"
    target.unlink(missing_ok=True)
    return f"sqlite+aiosqlite:///{target}"


def drop(provisioned: Provisioned, url: str) -> None:
    path = Path(str(make_url(url).database))
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def shared_connection_engine(db_engine: AsyncEngine) -> AsyncEngine:
    """The engine of a worker's rolled-back shared connection: the same database and hooks, without
    aiosqlite's thread hop (``sqlite_inline.py``)."""
    from pytest_dbharness.sqlite_inline import inline_engine

    return inline_engine(db_engine.url.render_as_string(hide_password=False))


def prepare_engine(engine: AsyncEngine) -> None:
    """SQLAlchemy's documented pysqlite/aiosqlite workaround, on every SQLite engine the harness makes.

    The sqlite3 module begins transactions lazily and ignores savepoints' bookkeeping; without
    the workaround a rolled-back test's commits stay in the database. Applied here whatever the
    application's engine factory does: an app that already applies it (and may begin with
    ``BEGIN IMMEDIATE``) keeps its own BEGIN, this one only begins a transaction nobody began.
    """
    sync_engine = engine.sync_engine
    if event.contains(sync_engine, "begin", _begin_unless_begun):
        return
    event.listen(sync_engine, "connect", _no_driver_transactions)
    event.listen(sync_engine, "begin", _begin_unless_begun)


def _no_driver_transactions(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None


def _begin_unless_begun(connection: Any) -> None:
    driver_connection = connection.connection.driver_connection
    if not getattr(driver_connection, "in_transaction", False):
        connection.exec_driver_sql("BEGIN")


def _build_template(template: Path, scratch: Path) -> str:
    """Migrate a fresh file and move it into the cache atomically (runs may race for it)."""
    building = scratch / f"template-{os.getpid()}.sqlite3"
    revision = migrate(f"sqlite+aiosqlite:///{building}")
    with sqlite3.connect(building) as connection:
        # Fold the write-ahead log into the main file, so that copying one file copies it all.
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    template.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(building, f"{template}.partial-{os.getpid()}")
    os.replace(f"{template}.partial-{os.getpid()}", template)
    return revision


def _revision_of(template: Path) -> str:
    with sqlite3.connect(f"file:{template}?mode=ro", uri=True) as connection:
        row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    return str(row[0]) if row else "base"


CONTROLLER = SQLiteController
