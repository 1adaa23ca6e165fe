"""Building the test schema with the Alembic migrations, and the key that caches it."""

from __future__ import annotations

import asyncio
import hashlib
from importlib.metadata import version
from pathlib import Path

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, make_url

from alembic import command
from pytest_dbharness.project import current_project


def schema_key() -> str:
    """A hash of everything the migrated schema depends on: the migration files and the tools."""
    digest = hashlib.sha256()
    for package in ("alembic", "sqlalchemy"):
        digest.update(f"{package}=={version(package)}\n".encode())
    for path in current_project().migration_files():
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


class SchemaBuildError(Exception):
    """The migrations failed while building the test schema; the message names where."""


def migrate(url: str) -> str:
    """Upgrade the database at ``url`` to head; return the revision it ends at."""
    try:
        return asyncio.run(_migrate(url))
    except Exception as error:
        engine = make_url(url).get_backend_name()
        raise SchemaBuildError(describe_failure(error, engine)) from error


def describe_failure(error: BaseException, engine: str) -> str:
    """One paragraph: which revision failed on which engine (a dialect name), why, what to run."""
    # Imported here: the engines' modules import this one.
    from pytest_dbharness.backends import engine_for_dialect

    revision = failing_revision(error)
    where = f" at revision {revision}" if revision else ""
    reason = str(getattr(error, "orig", None) or error).strip().splitlines()
    return (
        f"the migrations failed on {engine}{where}: {reason[0] if reason else type(error).__name__}. "
        f"Tests that need the migrated schema cannot run; the migration checks show the details: "
        f"pytest backend/tests/migrations --db {engine_for_dialect(engine)}"
    )


def failing_revision(error: BaseException) -> str | None:
    """The revision whose file the error was raised in, read from the traceback."""
    scripts = ScriptDirectory.from_config(current_project().alembic_config())
    by_path = {Path(script.path).resolve(): script for script in scripts.walk_revisions()}
    traceback = error.__traceback__
    found = None
    while traceback is not None:
        script = by_path.get(Path(traceback.tb_frame.f_code.co_filename).resolve())
        if script is not None:
            found = f"{script.revision} ({(script.doc or '').splitlines()[0]})"
        traceback = traceback.tb_next
    if found is None and error.__cause__ is not None:
        return failing_revision(error.__cause__)
    return found


async def _migrate(url: str) -> str:
    from pytest_dbharness.backends import create_engine  # the engines' modules import this one

    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(upgrade_connection)
            await connection.commit()
            revision = await connection.run_sync(current_revision)
    finally:
        await engine.dispose()
    return revision or "base"


def current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def upgrade_connection(connection: Connection, revision: str = "head") -> None:
    command.upgrade(current_project().alembic_config(connection=connection), revision)
