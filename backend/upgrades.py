"""Bringing a database to this code's schema, and saying where it stands: what ``backend migrate``,
``backend check`` and ``backend serve`` do before anything else.

Every failure is an ``UpgradeError`` whose message says what to do; the command line prints it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from backend.db import create_engine
from backend.django_adoption import BASELINE_REVISION, AdoptionError, adopt
from backend.migrations import (
    MigrationTimeouts,
    alembic_config,
    current_revision,
    head_revision,
    upgrade_connection,
)

T = TypeVar("T")
# PostgreSQL's SQLSTATEs for a statement cancelled by lock_timeout and by statement_timeout.
LOCK_NOT_AVAILABLE = "55P03"
QUERY_CANCELED = "57014"


class UpgradeError(Exception):
    """The database cannot be used or upgraded as asked; the message says how to fix it."""


def shown_url(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


async def on_connection(url: str, work: Callable[[Connection], T], *, commit: bool) -> T:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            result = await connection.run_sync(work)
            if commit:
                await connection.commit()
            return result
    except SQLAlchemyError as error:
        raise UpgradeError(
            f"cannot use the database at {shown_url(url)}: {first_line(error)}; "
            "check BACKEND_DATABASE_URL and that the server is running"
        ) from None
    finally:
        await engine.dispose()


def first_line(error: BaseException) -> str:
    orig = getattr(error, "orig", None) or error
    return str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__


def _known_revision(revision: str) -> bool:
    try:
        return ScriptDirectory.from_config(alembic_config()).get_revision(revision) is not None
    except CommandError:
        return False


def _refuse_unknown_revision(revision: str | None) -> None:
    if revision is not None and not _known_revision(revision):
        raise UpgradeError(
            f"the database is at revision {revision}, which this code's migration history does "
            "not contain (it was migrated by a newer or different version of the backend); "
            "run that version, or restore a backup made before it"
        )


def upgrade_database(
    url: str, revision: str = "head", *, timeouts: MigrationTimeouts | None = None
) -> tuple[str | None, str | None]:
    """Upgrade the database to ``revision``; return the revisions before and after.

    Each revision commits on its own (``alembic/env.py``), so a failure leaves the database at the
    last revision that completed, and says so.
    """

    def upgrade(connection: Connection) -> tuple[str | None, str | None]:
        before = current_revision(connection)
        _refuse_unknown_revision(before)
        _start_migrating(connection, timeouts)
        _upgrade_naming_failures(connection, revision, timeouts)
        return before, current_revision(connection)

    return asyncio.run(on_connection(url, upgrade, commit=True))


def adopt_django_database(
    url: str, revision: str = "head", *, timeouts: MigrationTimeouts | None = None
) -> str | None:
    """Stamp a Django-created database with our baseline, then upgrade it.

    A database that does not match is refused untouched. The stamp commits before the upgrade,
    whose revisions commit one by one (an index on a large auth_user is built CONCURRENTLY, which
    no single transaction could hold): a revision that fails leaves the database adopted, at the
    last revision that completed, for ``backend migrate`` to continue once the cause is fixed.
    """

    def adopt_and_upgrade(connection: Connection) -> str | None:
        try:
            adopt(connection)
        except AdoptionError as error:
            raise UpgradeError(str(error)) from None
        _start_migrating(connection, timeouts)
        try:
            _upgrade_naming_failures(connection, revision, timeouts)
        except UpgradeError as error:
            raise UpgradeError(f"adopted as revision {BASELINE_REVISION}, but {error}") from None
        return current_revision(connection)

    return asyncio.run(on_connection(url, adopt_and_upgrade, commit=True))


def _start_migrating(connection: Connection, timeouts: MigrationTimeouts | None) -> None:
    """Commit what was read or stamped, so that each revision begins a transaction of its own."""
    if timeouts is not None:
        timeouts.apply(connection)
    connection.commit()


def _upgrade_naming_failures(
    connection: Connection, revision: str, timeouts: MigrationTimeouts | None
) -> None:
    try:
        upgrade_connection(connection, revision)
    except CommandError as error:
        raise UpgradeError(f"cannot upgrade to {revision!r}: {error}") from None
    except (DBAPIError, RuntimeError) as error:
        connection.rollback()
        reached = current_revision(connection)
        raise UpgradeError(
            f"revision {_revision_after(reached)} failed and was rolled back: "
            f"{first_line(error)}{_timeout_hint(error, timeouts)}; the database stays at "
            f"revision {reached or 'none (empty)'}: fix the cause and run `backend migrate` again"
        ) from None


def _revision_after(revision: str | None) -> str:
    """The revision that upgrades ``revision`` (the history is linear: one head, checked)."""
    for script in ScriptDirectory.from_config(alembic_config()).walk_revisions():
        parents = script.down_revision
        if parents == revision or (isinstance(parents, tuple) and revision in parents):
            message = (script.doc or "").strip().splitlines()  # a revision may have none
            return f"{script.revision} ({message[0]})" if message else script.revision
    return f"after {revision}"


def _timeout_hint(error: BaseException, timeouts: MigrationTimeouts | None) -> str:
    sqlstate = getattr(getattr(error, "orig", None), "sqlstate", None)
    if timeouts is not None and sqlstate == LOCK_NOT_AVAILABLE:
        return (
            f" (it waited longer than lock_timeout, {timeouts.lock_timeout}, for a lock another "
            "session holds; retry when the database is quieter, or set "
            "BACKEND_MIGRATION_LOCK_TIMEOUT, where 0 waits without limit)"
        )
    if timeouts is not None and sqlstate == QUERY_CANCELED:
        return (
            f" (it ran longer than statement_timeout, {timeouts.statement_timeout}; set "
            "BACKEND_MIGRATION_STATEMENT_TIMEOUT, where 0 is no limit)"
        )
    return ""


def database_revision(url: str) -> str | None:
    return asyncio.run(on_connection(url, current_revision, commit=False))


def require_head(url: str) -> str:
    """The database's revision, which must be our head; otherwise say to migrate."""
    revision = database_revision(url)
    _refuse_unknown_revision(revision)
    head = head_revision()
    if revision != head:
        raise UpgradeError(
            f"the database is at revision {revision or 'none (empty)'}, not at the newest "
            f"revision {head}: run `backend migrate`"
        )
    return head
