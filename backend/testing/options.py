"""The harness's options, read once (command line, then environment) into a frozen dataclass."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

ENGINES = ("sqlite", "postgres")
PG_SOURCES = ("auto", "system")


class HarnessConfigError(Exception):
    """A misconfiguration; the message says what to do. The plugin stops the run with it."""


@dataclass(frozen=True)
class HarnessOptions:
    engine: str
    postgres_url: str | None
    pg_ctl: str | None
    pg_user: str
    rebuild_schema: bool

    @property
    def uses_external_server(self) -> bool:
        return self.engine == "postgres" and self.postgres_url is not None


ENV = {
    "engine": "BACKEND_TEST_DB",
    "postgres_url": "BACKEND_TEST_POSTGRES_URL",
    "pg_ctl": "BACKEND_TEST_PG_CTL",
    "pg_user": "BACKEND_TEST_PG_USER",
}


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup("backend-db", "database engine for the backend's tests")
    group.addoption(
        "--db",
        dest="backend_engine",
        default=None,
        help=f"engine to test on: {' or '.join(ENGINES)} (default sqlite; env {ENV['engine']})",
    )
    group.addoption(
        "--postgres-url",
        dest="backend_postgres_url",
        default=None,
        help="use this external PostgreSQL server instead of launching one; the harness creates "
        f"and drops its own test_… databases there (env {ENV['postgres_url']})",
    )
    group.addoption(
        "--pg-ctl",
        dest="backend_pg_ctl",
        default=None,
        help=f"path to pg_ctl for the launched server (env {ENV['pg_ctl']}; default: pg_config "
        "--bindir, PATH, then the newest /usr/lib/postgresql/*/bin)",
    )
    group.addoption(
        "--pg-user",
        dest="backend_pg_user",
        default=None,
        help="system user that runs the launched server when pytest runs as root "
        f"(default postgres; env {ENV['pg_user']})",
    )
    group.addoption(
        "--rebuild-schema",
        dest="backend_rebuild_schema",
        action="store_true",
        help="ignore the cached migrated schema and run the migrations again",
    )


def read_options(config: pytest.Config) -> HarnessOptions:
    def pick(name: str) -> str | None:
        value = config.getoption(f"backend_{name}") or os.environ.get(ENV[name]) or None
        return str(value).strip() if value else None

    postgres_url = pick("postgres_url")
    # A URL alone says which engine is meant; an explicit --db still wins.
    engine = (pick("engine") or ("postgres" if postgres_url else "sqlite")).lower()
    if engine in ("postgresql", "pg"):
        engine = "postgres"
    if engine not in ENGINES:
        raise HarnessConfigError(
            f"unknown database engine {engine!r} (from --db or {ENV['engine']}); "
            f"choose one of: {', '.join(ENGINES)}"
        )
    pg_ctl = pick("pg_ctl")
    if pg_ctl and not Path(pg_ctl).exists():
        raise HarnessConfigError(f"--pg-ctl {pg_ctl}: no such file; give the path of pg_ctl")
    return HarnessOptions(
        engine=engine,
        postgres_url=postgres_url,
        pg_ctl=pg_ctl,
        pg_user=pick("pg_user") or "postgres",
        rebuild_schema=bool(config.getoption("backend_rebuild_schema")),
    )
