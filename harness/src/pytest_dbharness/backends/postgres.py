"""PostgreSQL: a launched or external server, a migrated template database, a clone per worker.

Launched servers start from a cached cluster (data directory) that already holds the migrated
template, keyed by the server's major version and the schema key; a miss runs initdb and the
migrations once and saves the stopped cluster for the next run. On an external server the migrated
template is kept there as a database named by the schema key (``postgres_external.py``).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from pytest_postgresql.janitor import DatabaseJanitor
from sqlalchemy.engine import make_url

from pytest_dbharness.backends.base import Controller, Provisioned, Report
from pytest_dbharness.backends.postgres_external import (
    cached_template_name,
    hold_run_lock,
    kept_template,
    mark,
    prune_kept_templates,
    publish_template,
    stop_using_template,
    sweep_dead_runs,
    use_template,
)
from pytest_dbharness.backends.postgres_servers import (
    ExternalServer,
    LocalServer,
    ServerAddress,
    server_version,
)
from pytest_dbharness.schema import SchemaBuildError, migrate, schema_key

LOCAL_TEMPLATE = "dbharness_template"


class PostgresController(Controller):
    server: LocalServer | ExternalServer | None = None
    run_lock: psycopg.Connection[Any] | None = None

    template_error = ""

    def provision(self) -> Provisioned:
        if self.options.uses_external_server:
            assert self.options.postgres_url is not None
            address, report, template = self._provision_external(self.options.postgres_url)
        else:
            address, report, template = self._provision_local()
        report.server = server_version(address)
        return Provisioned(
            engine=self.engine,
            run_id=self.run_dir.run_id,
            run_dir=str(self.run_dir.path),
            template=template,
            admin_url=address.url(address.maintenance_db),
            report=report,
            template_error=self.template_error,
        )

    def _migrate_template(
        self, report: Report, address: ServerAddress, template: str, run_id: str | None = None
    ) -> bool:
        """Build the template; on failure keep the server up for the tests that need no schema."""
        with report.phase("migrations"):
            _create_database(address, template, run_id)
            try:
                migrate(address.url(template))
            except SchemaBuildError as error:
                self.template_error = str(error)
                report.revision = "NOT BUILT"
                return False
        return True

    def _provision_local(self) -> tuple[ServerAddress, Report, str]:
        server = self.server = LocalServer(self.options, self.run_dir)
        report = Report(engine=self.engine, location=server.describe())
        major = server.version.split(".")[0]
        cached = Path(self.cache_dir) / f"pg{major}-cluster-{schema_key()}"
        if cached.is_dir() and not self.options.rebuild_schema:
            report.cache = "hit"
            with report.phase("restore cluster"):
                server.seed_data_dir(cached)
            with report.phase("server start"):
                address = server.start()
        else:
            report.cache = "rebuilt" if cached.is_dir() else "miss"
            with report.phase("initdb + server start"):
                address = server.start()
            if not self._migrate_template(report, address, LOCAL_TEMPLATE):
                return address, report, LOCAL_TEMPLATE  # nothing worth caching
            with report.phase("cache cluster"):
                server.stop()
                if report.cache == "rebuilt":
                    _remove_tree(cached)
                server.snapshot_data_dir(cached)
                address = server.start()
        report.revision = _revision(address, LOCAL_TEMPLATE)
        return address, report, LOCAL_TEMPLATE

    def _provision_external(self, url: str) -> tuple[ServerAddress, Report, str]:
        server = ExternalServer(url)
        report = Report(engine=self.engine, location=server.describe())
        run_id = self.run_dir.run_id
        with report.phase("connect"):
            address = server.start()
        self.server = server  # from here on, teardown has databases to drop
        self.run_lock = hold_run_lock(address, run_id)
        with report.phase("sweep"):
            swept = sweep_dead_runs(address, run_id)
        report.location += f", databases test_{run_id}_*" + (
            f" (swept {len(swept)} left by dead runs)" if swept else ""
        )
        cached = cached_template_name(schema_key())
        # In use by this run before it is looked at: another run's pruning leaves it alone.
        use_template(self.run_lock, cached)
        # Its revision is read from its comment: a session on it would stop other runs' clones.
        exists, revision = kept_template(address, cached)
        if revision is not None and not self.options.rebuild_schema:
            report.cache = f"hit (database {cached})"
            report.revision = revision
            return address, report, cached
        stop_using_template(self.run_lock, cached)  # to replace it, it must not be held
        # Exists without a revision: kept by an older harness, which let sessions hold it.
        report.cache = f"{'rebuilt' if exists else 'miss'} (database {cached})"
        template = f"test_{run_id}_template"
        if self._migrate_template(report, address, template, run_id=run_id):
            report.revision = _revision(address, template)
            template = publish_template(
                address, template, cached, run_id=run_id, revision=report.revision, replace=exists
            )
            use_template(self.run_lock, template)
            with report.phase("prune"):
                pruned = prune_kept_templates(address)
            if pruned:
                report.location += f" (dropped {len(pruned)} older kept templates)"
        return address, report, template

    def teardown(self) -> None:
        server, self.server = self.server, None
        if isinstance(server, ExternalServer) and server.address is not None:
            _drop_run_databases(server.address, self.run_dir.run_id)
        if self.run_lock is not None:
            self.run_lock.close()  # the run's databases are gone: nothing left to guard
            self.run_lock = None
        if server is not None:
            server.stop()


def clone(provisioned: Provisioned, worker: str) -> str:
    name = f"test_{provisioned.run_id}_{worker}"
    _janitor(provisioned, name, template=provisioned.template).init()
    _mark_if_external(provisioned, name)
    return make_url(provisioned.admin_url).set(database=name).render_as_string(hide_password=False)


def create_empty(provisioned: Provisioned, name: str) -> str:
    name = f"test_{provisioned.run_id}_{name}"
    _janitor(provisioned, name).init()
    _mark_if_external(provisioned, name)
    return make_url(provisioned.admin_url).set(database=name).render_as_string(hide_password=False)


def drop(provisioned: Provisioned, url: str) -> None:
    name = make_url(url).database
    # Only ever drop what this run created: its names carry the run id.
    assert name is not None, url
    assert name.startswith(f"test_{provisioned.run_id}_"), name
    _janitor(provisioned, name).drop()


def _janitor(provisioned: Provisioned, name: str, template: str | None = None) -> DatabaseJanitor:
    admin = make_url(provisioned.admin_url)
    return DatabaseJanitor(
        user=admin.username or "postgres",
        password=admin.password,
        host=admin.host or "localhost",
        port=admin.port or 5432,
        dbname=name,
        template_dbname=template,
        maintenance_dbname=admin.database or "postgres",
        connection_timeout=10,
    )


def _create_database(address: ServerAddress, name: str, run_id: str | None = None) -> None:
    with address.connect() as connection:
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        if run_id is not None:
            mark(connection, name, run_id)


def _mark_if_external(provisioned: Provisioned, name: str) -> None:
    """Mark a run's database for the sweep of later runs; a launched server dies with its run."""
    if provisioned.template == LOCAL_TEMPLATE:
        return
    admin = make_url(provisioned.admin_url)
    address = ServerAddress(
        admin.host or "localhost",
        admin.port or 5432,
        admin.username or "postgres",
        admin.password,
        admin.database or "postgres",
    )
    with address.connect() as connection:
        mark(connection, name, provisioned.run_id)


def _revision(address: ServerAddress, database: str) -> str:
    with address.connect(database) as connection:
        row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    return str(row[0]) if row else "base"


def _drop_run_databases(address: ServerAddress, run_id: str) -> None:
    """Drop every database this run created (the name carries the run id), template last."""
    prefix = f"test_{run_id}_"
    with address.connect() as connection:
        rows = connection.execute(
            "SELECT datname FROM pg_database WHERE starts_with(datname, %s)", (prefix,)
        ).fetchall()
        for (name,) in sorted(rows, key=lambda row: row[0].endswith("_template")):
            connection.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,)
            )
            connection.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))


def _remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


CONTROLLER = PostgresController


# --- Hooks of the isolation code (backends/hooks.py) -----------------------------------------


def write_log_ddl(log: str, tables: list[str]) -> list[str]:
    """Triggers that note, in the table ``log``, each table a statement wrote (commit isolation).

    Statement triggers, one row per table: no unique key, so that two transactions writing the
    same table never wait for each other on the log (a race may note a table twice; harmless).
    """
    function = f"{log}_note"
    # Identifiers from the migrated schema and the harness's own constant, never from input.
    ddl = [
        f'CREATE TABLE IF NOT EXISTS "{log}" (name text NOT NULL)',
        f'CREATE OR REPLACE FUNCTION "{function}"() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN '  # noqa: S608
        f'INSERT INTO "{log}" (name) SELECT TG_TABLE_NAME WHERE NOT EXISTS '
        f'(SELECT 1 FROM "{log}" WHERE name = TG_TABLE_NAME); RETURN NULL; END $$',
    ]
    for table in tables:
        ddl.append(
            f'CREATE OR REPLACE TRIGGER "{log}" AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE '
            f'ON "{table}" FOR EACH STATEMENT EXECUTE FUNCTION "{function}"()'
        )
    return ddl


def connection_target(cargs: list[Any], cparams: dict[str, Any]) -> tuple[str, str, str] | None:
    """The server and database a connection opens, to compare with the developer's (``blocker.py``)."""
    if cargs:  # a conninfo string
        parsed = psycopg.conninfo.conninfo_to_dict(str(cargs[0]))
        cparams = {**parsed, **cparams}
    database = cparams.get("dbname") or cparams.get("database")
    if not database:
        return None
    return (
        str(cparams.get("host") or "localhost"),
        str(cparams.get("port") or 5432),
        str(database),
    )


# --- Hooks of the migration checks (migration_checks.py) -------------------------------------


def describe_schema_objects(inspector: Any) -> dict[str, list[str]]:
    """Enum types and sequences: schema objects of their own, outside the tables."""
    return {
        "enum types": sorted(e["name"] for e in inspector.get_enums()),
        "sequences": sorted(inspector.get_sequence_names()),
    }
