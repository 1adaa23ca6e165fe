"""Nox sessions: the same tests on SQLite (speed) or PostgreSQL (parity), migrations, docs, lint.

Each session installs exactly the pinned, hashed versions in requirements/ (exports of uv.lock), then
the project itself without dependencies. `nox -R -s NAME` reuses the environment and skips the
install. Arguments after ``--`` go to pytest: ``nox -s tests-postgres -- -k admin -n 2``.
"""

from __future__ import annotations

import os
from pathlib import Path

import nox

# The nox that uv.lock pins (the dev group): the version these sessions are tested with.
nox.needs_version = ">=2026.10.20"
nox.options.default_venv_backend = "uv"
# A bare `nox` runs what to run before pushing; fuzz, interrupts, durations, bench and load are on
# demand only (CI runs fuzz and interrupts).
nox.options.sessions = ["lint", "tests-sqlite", "tests-postgres", "migrations", "harness", "docs"]

PYTHON = "3.11"
ENGINES = ("sqlite", "postgres")
MIGRATION_TESTS = Path("backend/tests/migrations")
INTERRUPT_TESTS = "backend/tests/harness/test_interrupts.py"
# pytest-split's durations file (its default name, in the directory pytest runs in).
DURATIONS = ".test_durations"
HARNESS = "harness"
# The lowest SQLAlchemy the harness declares (harness/pyproject.toml): its own tests run on it too.
LOWEST_SQLALCHEMY = "2.0.36"
# pytest's exit code when it collected nothing: never a pass for a session that must check something.
NO_TESTS_COLLECTED = 5


def _install(session: nox.Session, requirements: str) -> None:
    """The pinned requirements (hash-checked), then the project and the test harness (harness/)
    editable and without dependencies.

    Editable because the package finds alembic/ next to itself (backend.config.PROJECT_ROOT).
    """
    session.install("--require-hashes", "--compile-bytecode", "-r", f"requirements/{requirements}")
    session.install("--no-deps", "--compile-bytecode", "-e", ".", "-e", HARNESS)


def _run_all(session: nox.Session, commands: list[list[str]]) -> None:
    """Run every command even when one fails, then fail naming each failure."""
    failed = []
    for command in commands:
        try:
            session.run(*command)
        except nox.command.CommandFailed as error:
            collected_nothing = command[0] == "pytest" and error.return_code == NO_TESTS_COLLECTED
            why = "it collected no tests" if collected_nothing else f"exit {error.return_code}"
            failed.append(f"`{' '.join(command)}` ({why})")
    if failed:
        session.error("failed: " + "; ".join(failed))


def _tests(session: nox.Session, *, db: str, isolation: str) -> None:
    _install(session, "test.txt")
    session.run("pytest", "--db", db, "--isolation", isolation, *session.posargs)


@nox.session(name="tests-sqlite", python=PYTHON)
def tests_sqlite(session: nox.Session) -> None:
    """The suite on embedded SQLite, rolled back per test: the fast inner loop (as `uv run pytest`)."""
    _tests(session, db="sqlite", isolation="rollback")


@nox.session(name="tests-postgres", python=PYTHON)
def tests_postgres(session: nox.Session) -> None:
    """The suite on PostgreSQL with real commits (--isolation commit): production's semantics."""
    _tests(session, db="postgres", isolation="commit")


@nox.session(python=PYTHON, default=False)
def fuzz(session: nox.Session) -> None:
    """The fuzzer's deep budget: 150 requests per operation and caller, no time limit (CI runs it)."""
    _install(session, "test.txt")
    session.run(
        "pytest",
        "backend/tests/test_fuzz.py",
        "-rP",
        *session.posargs,
        env={
            "BACKEND_FUZZ_EXAMPLES": os.environ.get("BACKEND_FUZZ_EXAMPLES", "150"),
            "BACKEND_FUZZ_SECONDS": os.environ.get("BACKEND_FUZZ_SECONDS", "0"),
        },
    )


@nox.session(python=PYTHON, default=False)
def interrupts(session: nox.Session) -> None:
    """Ctrl-C or SIGTERM at 50 random moments of a run, on each engine (the suite tries 1)."""
    _install(session, "test.txt")
    # The user's own figure wins (os.environ: session.env holds only what nox sets).
    session.env["DBHARNESS_INTERRUPT_TRIES"] = os.environ.get("DBHARNESS_INTERRUPT_TRIES", "50")
    base = ["pytest", INTERRUPT_TESTS, "-k", "random_moment", *session.posargs]
    _run_all(session, [[*base, "--db", db] for db in ENGINES])


@nox.session(python=PYTHON, default=False)
def durations(session: nox.Session) -> None:
    """Refresh .test_durations, from which --splits N --group K shards the suite (pytest-split).

    From a serial run on PostgreSQL, the engine CI shards; the harness leaves out of each test's
    time what the session-scoped fixtures cost (every shard pays those once).
    """
    _install(session, "test.txt")
    session.run(
        "pytest", "--db", "postgres", "-p", "no:randomly", "--store-durations",
        "--clean-durations", f"--durations-path={DURATIONS}", *session.posargs,
    )  # fmt: skip


@nox.session(python=PYTHON)
def migrations(session: nox.Session) -> None:
    """Every revision upgrades, downgrades and matches the models, on SQLite and PostgreSQL.

    The project's own checks, and pytest-alembic's built-in tests as a second opinion
    (backend/tests/migrations/test_pytest_alembic.py), both through alembic/env.py as it is. On
    PostgreSQL each revision is also traced on tables that hold rows and linted with squawk
    (test_safety.py), and the run ends with a table of every revision's locks and verdict.
    """
    _install(session, "test.txt")
    # Random order would shuffle the steps of a history walk; the checks run in file order.
    base = ["pytest", str(MIGRATION_TESTS), "-p", "no:randomly", *session.posargs]
    _run_all(session, [[*base, "--db", db] for db in ENGINES])


@nox.session(python=PYTHON)
@nox.parametrize("sqlalchemy", ["locked", "lowest"])
def harness(session: nox.Session, sqlalchemy: str) -> None:
    """The test harness's own tests (harness/tests: a second project's suite under the plugin,
    both engines), on the locked SQLAlchemy and on the lowest one the harness declares."""
    _install(session, "test.txt")
    if sqlalchemy == "lowest":
        session.install(f"sqlalchemy[asyncio]=={LOWEST_SQLALCHEMY}")
    session.run("pytest", HARNESS, *session.posargs)


@nox.session(python=PYTHON)
def docs(session: nox.Session) -> None:
    """Build the docs site strictly (mkdocs build --strict: warnings are errors) into site/."""
    _install(session, "docs.txt")
    session.run("mkdocs", "build", "--strict", *session.posargs)


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff, mypy, the import contracts, requirements/ fresh, zizmor on the workflows; all reported."""
    _install(session, "lint.txt")
    _run_all(
        session,
        [
            ["ruff", "check", "."],
            ["ruff", "format", "--check", "."],
            ["mypy"],
            ["lint-imports", "--no-cache"],
            ["python", "scripts/requirements.py", "check"],
            # The workflows' supply chain: pinned actions, no persisted credentials, permissions.
            ["zizmor", "--offline", ".github/workflows"],
        ],
    )


@nox.session(python=PYTHON, default=False)
def bench(session: nox.Session) -> None:
    """Time the fast lane, one test and the parity lanes with pyperf (python -m backend.bench)."""
    _install(session, "bench.txt")
    session.run("python", "-m", "backend.bench", *session.posargs)


@nox.session(python=PYTHON, default=False)
def load(session: nox.Session) -> None:
    """Locust against a real `backend serve` (python -m backend.bench.load); on demand only."""
    # The bench requirements hold locust, httpx, and the harness's PostgreSQL launcher it reuses.
    _install(session, "bench.txt")
    session.run("python", "-m", "backend.bench.load", *session.posargs)
