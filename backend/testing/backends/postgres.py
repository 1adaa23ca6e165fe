"""PostgreSQL: a launched or external server, a migrated template database, a clone per worker.

Launched servers start from a cached cluster (data directory) that already holds the migrated
template, keyed by the server's major version and the schema key; a miss runs initdb and the
migrations once and saves the stopped cluster for the next run.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from psycopg import sql
from pytest_postgresql.janitor import DatabaseJanitor
from sqlalchemy.engine import make_url

from backend.testing.backends.base import Controller, Provisioned, Report
from backend.testing.backends.postgres_servers import (
    ExternalServer,
    LocalServer,
    ServerAddress,
    server_version,
)
from backend.testing.schema import SchemaBuildError, migrate, schema_key

LOCAL_TEMPLATE = "backend_template"


class PostgresController(Controller):
    server: LocalServer | ExternalServer | None = None

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

    def _migrate_template(self, report: Report, address: ServerAddress, template: str) -> bool:
        """Build the template; on failure keep the server up for the tests that need no schema."""
        with report.phase("migrations"):
            _create_database(address, template)
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
        with report.phase("connect"):
            address = server.start()
        self.server = server  # from here on, teardown has databases to drop
        template = f"test_{self.run_dir.run_id}_template"
        report.location += f", databases test_{self.run_dir.run_id}_*"
        report.cache = "none (an external server's template is built per run)"
        if self._migrate_template(report, address, template):
            report.revision = _revision(address, template)
        return address, report, template

    def teardown(self) -> None:
        server, self.server = self.server, None
        if isinstance(server, ExternalServer) and server.address is not None:
            _drop_run_databases(server.address, self.run_dir.run_id)
        if server is not None:
            server.stop()


def clone(provisioned: Provisioned, worker: str) -> str:
    name = f"test_{provisioned.run_id}_{worker}"
    _janitor(provisioned, name, template=provisioned.template).init()
    return make_url(provisioned.admin_url).set(database=name).render_as_string(hide_password=False)


def create_empty(provisioned: Provisioned, name: str) -> str:
    name = f"test_{provisioned.run_id}_{name}"
    _janitor(provisioned, name).init()
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


def _create_database(address: ServerAddress, name: str) -> None:
    with address.connect() as connection:
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


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
