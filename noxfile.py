"""Nox sessions: the same test suite on SQLite (speed) or PostgreSQL (parity), and lint.

Each session installs the locked dependencies (uv.lock) into its own environment; arguments after
``--`` go to pytest, e.g. ``nox -s tests-postgres -- -k admin -n 2``.
"""

from __future__ import annotations

import nox

nox.needs_version = ">=2024.10.9"
nox.options.default_venv_backend = "uv"
nox.options.sessions = ["lint", "tests-sqlite", "tests-postgres"]

PYTHON = "3.11"


def _sync(session: nox.Session, *groups: str) -> None:
    """Install the project and the given dependency groups exactly as locked."""
    group_args = [arg for group in groups for arg in ("--group", group)]
    session.run_install(
        "uv",
        "sync",
        "--locked",
        "--no-default-groups",
        *group_args,
        env={"UV_PROJECT_ENVIRONMENT": session.virtualenv.location},
        external=True,
    )


def _tests(session: nox.Session, *, db: str) -> None:
    _sync(session, "test")
    session.run("pytest", "--db", db, *session.posargs)


@nox.session(name="tests-sqlite", python=PYTHON)
def tests_sqlite(session: nox.Session) -> None:
    """The suite on embedded SQLite: the fast inner loop (same as `uv run pytest`)."""
    _tests(session, db="sqlite")


@nox.session(name="tests-postgres", python=PYTHON)
def tests_postgres(session: nox.Session) -> None:
    """The suite on a PostgreSQL server the harness launches (or BACKEND_TEST_POSTGRES_URL's)."""
    _tests(session, db="postgres")


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff (lint and format check) and mypy on the package; reports every failure."""
    _sync(session, "lint", "test")
    checks = [
        ("ruff", "check", "."),
        ("ruff", "format", "--check", "."),
        ("mypy",),
    ]
    failed = []
    for check in checks:
        try:
            session.run(*check)
        except nox.command.CommandFailed:
            failed.append(" ".join(check))
    if failed:
        session.error(f"failed: {'; '.join(failed)}")
