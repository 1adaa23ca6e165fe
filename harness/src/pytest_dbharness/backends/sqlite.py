"""SQLite: the template is a migrated file cached between runs; a worker's clone is a copy of it."""

from __future__ import annotations

import os
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import NullPool

from pytest_dbharness.backends.base import Controller, Provisioned, Report
from pytest_dbharness.project import current_project
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


def _on_aiosqlite() -> bool:
    """Whether the app reaches SQLite through aiosqlite, whose dialect the inline transport serves
    (``Project.drivers`` may name another async driver: that one is then used as it is)."""
    return current_project().driver_for("sqlite") == "aiosqlite"


def shared_connection_engine(url: str) -> AsyncEngine:
    """The engine of a worker's rolled-back shared connection: the app's factory and hooks with the
    savepoint workaround (``prepare_engine``), without aiosqlite's thread hop (``sqlite_inline.py``)."""
    from pytest_dbharness.backends import create_engine

    if not _on_aiosqlite():
        return create_engine(url)
    from pytest_dbharness.sqlite_inline import inline_engine

    return inline_engine(url)


def migration_engine(url: str, **options: Any) -> AsyncEngine:
    """The engine of the template's build and the migration checks: the app's factory and hooks on
    the inline transport (``sqlite_inline.py``), a new sqlite3 connection for each use. Migrating
    runs tens of thousands of statements (batch table copies, reflection), and aiosqlite's thread
    hop cost each of them a round trip through the event loop; these connections are used one at
    a time on a database of their own, so none waits on a lock another holds on the same loop."""
    from pytest_dbharness.backends import create_engine
    from pytest_dbharness.sqlite_inline import InlineDBAPI

    inline = {"module": InlineDBAPI()} if _on_aiosqlite() else {}
    return create_engine(url, **{**inline, "poolclass": NullPool, **options})


def prepare_engine(engine: AsyncEngine) -> None:
    """SQLAlchemy's documented pysqlite/aiosqlite workaround, on the SQLite engines whose
    transactions the harness nests: the rolled-back shared connection and the migrations.

    The sqlite3 module begins transactions lazily and ignores savepoints' bookkeeping; without
    the workaround a rolled-back test's commits stay in the database. Applied here whatever the
    application's engine factory does: an app that already applies it (and may begin with
    ``BEGIN IMMEDIATE``) keeps its own BEGIN, this one only begins a transaction nobody began.
    Never on the engine of real commits (``app_engine``): with it every read begins a
    transaction, and in SQLite's default journal mode a reader's open transaction makes a writer
    on another connection wait for its lock, which the app's own engine does not do.
    """
    sync_engine = engine.sync_engine
    if event.contains(sync_engine, "begin", _begin_unless_begun):
        return
    event.listen(sync_engine, "connect", _no_driver_transactions)
    event.listen(sync_engine, "begin", _begin_unless_begun)


def _no_driver_transactions(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None


def _begin_unless_begun(connection: Any) -> None:
    if connection.get_execution_options().get("isolation_level") == "AUTOCOMMIT":
        return  # each statement commits by itself (Alembic's autocommit_block, say)
    dbapi_connection = connection.connection.dbapi_connection
    if dbapi_connection.isolation_level is not None:
        # Leaving AUTOCOMMIT, SQLAlchemy's pysqlite dialect hands transactions back to the
        # sqlite3 module (isolation_level ""); take them back.
        dbapi_connection.isolation_level = None
    if not getattr(connection.connection.driver_connection, "in_transaction", False):
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


# --- Hooks of the isolation code (backends/hooks.py) -----------------------------------------

# Per process, so per xdist worker: the highest id each AUTOINCREMENT table has handed out so far.
_high_marks: dict[str, int] = {}


def restore_high_marks(connection: Any) -> None:
    """Inside a rolled-back test: continue ids from where the previous tests stopped.

    PostgreSQL's sequences ignore rollbacks, so its ids climb from test to test; SQLite's
    ``sqlite_sequence`` is rolled back with the test. Carrying its high marks gives both engines
    the same behaviour: no test sees an id again, so a test that hard-codes one fails on both.
    """
    if not _high_marks:
        return
    marks = [{"name": name, "seq": seq} for name, seq in _high_marks.items()]
    # max(): a committed test's ids were really used and stay higher than any mark noted here.
    connection.execute(
        text("UPDATE sqlite_sequence SET seq = max(seq, :seq) WHERE name = :name"), marks
    )
    connection.execute(
        text(
            "INSERT INTO sqlite_sequence (name, seq) SELECT :name, :seq "
            "WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = :name)"
        ),
        marks,
    )


def remember_high_marks(connection: Any) -> None:
    """Before a rolled-back test's rollback: note how far each table's ids went.

    SQLite creates ``sqlite_sequence`` with the first AUTOINCREMENT table; a schema without one
    (INTEGER PRIMARY KEY rowids, UUID keys) has no ids to carry, and keeps SQLite's own rule.
    """
    exists = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_sequence'"
    if connection.execute(text(exists)).first() is None:
        return
    for name, seq in connection.execute(text("SELECT name, seq FROM sqlite_sequence")):
        _high_marks[name] = max(_high_marks.get(name, 0), int(seq))


def write_log_ddl(log: str, tables: list[str]) -> list[str]:
    """Triggers that note, in the table ``log``, each table a statement wrote (commit isolation).

    Row triggers (SQLite has no statement triggers); the WHEN clause keeps one row per table.
    """
    ddl = [f'CREATE TABLE IF NOT EXISTS "{log}" (name TEXT NOT NULL)']
    for table in tables:
        for verb in ("INSERT", "UPDATE", "DELETE"):
            # Identifiers from the migrated schema and the harness's own constant, never input.
            ddl.append(
                f'CREATE TRIGGER IF NOT EXISTS "{log}_{table}_{verb.lower()}" AFTER {verb} ON '  # noqa: S608
                f'"{table}" WHEN NOT EXISTS (SELECT 1 FROM "{log}" WHERE name = \'{table}\') '
                f"BEGIN INSERT INTO \"{log}\" (name) VALUES ('{table}'); END"
            )
    return ddl


def connection_target(cargs: list[Any], cparams: dict[str, Any]) -> str | None:
    """The file a connection opens, to compare with the developer's (``blocker.py``)."""
    name = cargs[0] if cargs else cparams.get("database")
    if not name or name == ":memory:" or str(name).startswith("file:"):
        return None
    return os.path.realpath(str(name))


# --- Hooks of the migration checks (migration_checks.py) -------------------------------------


def migration_context_options() -> dict[str, Any]:
    """ALTER TABLE is limited on SQLite: autogenerate's operations are batch operations here."""
    return {"render_as_batch": True}


def describe_indexes(
    connection: Any, table: str, normalise: Callable[[Any], str]
) -> list[tuple[Any, ...]]:
    """Indexes from SQLite's catalog: SQLAlchemy cannot reflect expression indexes here."""
    rows = connection.exec_driver_sql(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? "
        "AND sql IS NOT NULL",
        (table,),
    )
    return [(name, normalise(sql)) for name, sql in rows]


def ids_never_reused(connection: Any, table: str) -> bool:
    """Whether the table is AUTOINCREMENT (reflection does not say): without it SQLite hands the
    highest deleted id out again."""
    sql = connection.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
    ).scalar()
    return "AUTOINCREMENT" in str(sql).upper()
