"""Building the test schema with the Alembic migrations, and the key that caches it."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.engine import Engine as SyncEngine

from pytest_dbharness import blocker
from pytest_dbharness.project import ProjectError, current_project

if TYPE_CHECKING:  # Alembic is imported where a migration runs
    from alembic.script import Script

# Alembic is imported in the functions that migrate, not here: a run whose schema is cached (the
# key below needs no Alembic when the project gives migrations_dir) never pays for its imports.


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
    except (Exception, SystemExit) as error:  # a revision that calls sys.exit() fails too
        engine = make_url(url).get_backend_name()
        raise SchemaBuildError(describe_failure(error, engine)) from error


def describe_failure(error: BaseException, engine: str) -> str:
    """One paragraph: which revision failed on which engine (a dialect name), why, what to run."""
    # Imported here: the engines' modules import this one.
    from pytest_dbharness.backends import engine_for_dialect

    if isinstance(error, EnvPyIgnoresConnection | ProjectError):
        return str(error)
    heads = unmerged_heads(error)
    if heads:
        return (
            f"the migrations have {len(heads)} heads ({', '.join(heads)}), so there is no one "
            f"head to upgrade {engine} to: two revisions were made on the same parent (two "
            "branches that each added one, say). Merge them into one head: `alembic merge -m "
            f"'merge heads' {' '.join(heads)}`. Tests that need the migrated schema cannot run "
            "until then"
        )
    revision = failing_revision(error)
    where = f" at revision {revision}" if revision else ""
    if isinstance(error, SyntaxError) and revision == Path(error.filename or "").name:
        where = f" in {revision}"  # a file Alembic could not load: no revision id is known
    return (
        f"the migrations failed on {engine}{where}: {failure_reason(error).rstrip('.')}. "
        f"Tests that need the migrated schema cannot run; the whole traceback: run `alembic "
        f"upgrade head` on an empty {engine} database, or the project's migration tests with "
        f"--db {engine_for_dialect(engine)}"
    )


def failure_reason(error: BaseException) -> str:
    """The first line of what went wrong: the database's own message for a refused statement,
    the exception's type and message for an error in a revision's Python."""
    from alembic.util import CommandError

    if isinstance(error, KeyError) and _last_frame_in(error, "alembic/script/revision.py"):
        # Alembic warns of it, then fails building its revision map on the missing key.
        return (
            f"a revision's down_revision is {error.args[0]!r}, and no revision file in the "
            "history has that id: fix the down_revision, or restore the missing file"
        )
    if isinstance(error, SystemExit):
        return f"a revision called sys.exit({error.code!r})"
    orig = getattr(error, "orig", None)
    lines = str(orig or error).strip().splitlines()
    if orig is not None or isinstance(error, CommandError):
        return lines[0] if lines else type(orig or error).__name__
    return f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__


def _last_frame_in(error: BaseException, path_end: str) -> bool:
    traceback = error.__traceback__
    while traceback is not None and traceback.tb_next is not None:
        traceback = traceback.tb_next
    return traceback is not None and traceback.tb_frame.f_code.co_filename.endswith(path_end)


def unmerged_heads(error: BaseException | None) -> list[str]:
    """The heads Alembic found when it needed one (its ``MultipleHeads``, wherever it is chained)."""
    from alembic.script.revision import MultipleHeads

    while error is not None:
        if isinstance(error, MultipleHeads):
            return list(error.heads)
        error = error.__cause__ or error.__context__
    return []


def revision_message(script: Script) -> str:
    """The first line of a revision file's docstring (its message), or "" if it has none: a
    hand-written file, or one made with an empty message."""
    lines = (script.doc or "").strip().splitlines()
    return lines[0] if lines else ""


def revision_title(script: Script) -> str:
    """``0002 (add notes)``, or ``0002`` for a revision without a message."""
    message = revision_message(script)
    return f"{script.revision} ({message})" if message else script.revision


def failing_revision(error: BaseException) -> str | None:
    """The revision whose file the error was raised in, read from the traceback."""
    from alembic.script import ScriptDirectory

    try:
        scripts = ScriptDirectory.from_config(current_project().alembic_config())
        by_path = {Path(script.path).resolve(): script for script in scripts.walk_revisions()}
    except Exception:  # the history itself does not load: that is the error to report
        filename = getattr(error, "filename", None)  # a SyntaxError's file
        return Path(filename).name if isinstance(error, SyntaxError) and filename else None
    traceback = error.__traceback__
    found = None
    while traceback is not None:
        script = by_path.get(Path(traceback.tb_frame.f_code.co_filename).resolve())
        if script is not None:
            found = revision_title(script)
        traceback = traceback.tb_next
    if found is None and error.__cause__ is not None:
        return failing_revision(error.__cause__)
    return found


async def _migrate(url: str) -> str:
    from pytest_dbharness.backends import migration_engine  # the engines' modules import this one

    engine = migration_engine(url)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_build_template)
            await connection.commit()
            revision = await connection.run_sync(current_revision)
    finally:
        await engine.dispose()
    return revision or "base"


def current_revision(connection: Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(connection).get_current_revision()


def upgrade_connection(connection: Connection, revision: str = "head") -> None:
    from alembic import command

    run_alembic(command.upgrade, connection, revision)


def _build_template(connection: Connection) -> None:
    """The template's migrations, once the folder the key was made from is checked to be theirs."""
    project = current_project()
    project.check_migrations_dir(project.alembic_config(connection=connection))
    upgrade_connection(connection)


def run_alembic(operation: Callable[..., Any], connection: Connection, *args: Any) -> None:
    """An Alembic command through ``connection``; an ``env.py`` that connects by itself instead
    (to the developer's database, or to a host that does not answer) is stopped at once."""
    config = current_project().alembic_config(connection=connection)
    with _refusing_other_connections(connection):
        try:
            operation(config, *args)
        except RuntimeError as error:
            if "running event loop" not in str(error):
                raise
            # Alembic's async template starts a loop of its own: it ignored the connection.
            raise EnvPyIgnoresConnection(_ignored("started an event loop of its own")) from None


class EnvPyIgnoresConnection(Exception):
    """``env.py`` opened a connection of its own instead of using the harness's."""


ENV_PY_LINES = """    connection = config.attributes.get("connection")
    if connection is not None:  # the test harness (or a caller) passes its own connection
        do_run_migrations(connection)  # context.configure(connection=connection, ...) + run
        return"""


@contextmanager
def _refusing_other_connections(ours: Connection) -> Iterator[None]:
    def refuse(dialect: Any, _record: Any, cargs: Any, cparams: Any) -> None:
        where = _where(cparams, cargs)
        raise EnvPyIgnoresConnection(_ignored(f"opened a connection of its own (to {where})"))

    event.listen(SyncEngine, "do_connect", refuse)
    try:
        # A connection to the developer's database from here is env.py's: this says so, not the
        # blocker's message about tests.
        with blocker.deferring():
            yield
    finally:
        event.remove(SyncEngine, "do_connect", refuse)


def _ignored(what_it_did: str) -> str:
    return (
        f"alembic's env.py {what_it_did} instead of migrating through the connection the harness "
        'passes it in config.attributes["connection"]; begin run_migrations_online() in env.py '
        f"with:\n{ENV_PY_LINES}\n(docs/harness.md in pytest-dbharness's repository, step 4)"
    )


def _where(cparams: dict[str, Any], cargs: Any) -> str:
    host = cparams.get("host")
    database = cparams.get("dbname") or cparams.get("database") or (cargs[0] if cargs else "?")
    return f"{host}/{database}" if host else str(database)
