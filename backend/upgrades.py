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
from sqlalchemy.exc import SQLAlchemyError

from backend.db import create_engine
from backend.django_adoption import AdoptionError, adopt
from backend.migrations import alembic_config, current_revision, head_revision, upgrade_connection

T = TypeVar("T")


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


def upgrade_database(url: str, revision: str = "head") -> tuple[str | None, str | None]:
    """Upgrade the database to ``revision``; return the revisions before and after."""

    def upgrade(connection: Connection) -> tuple[str | None, str | None]:
        before = current_revision(connection)
        _refuse_unknown_revision(before)
        try:
            upgrade_connection(connection, revision)
        except CommandError as error:
            raise UpgradeError(f"cannot upgrade to {revision!r}: {error}") from None
        return before, current_revision(connection)

    return asyncio.run(on_connection(url, upgrade, commit=True))


def adopt_django_database(url: str, revision: str = "head") -> str | None:
    """Stamp a Django-created database with our baseline, then upgrade it, in one transaction.

    A failure anywhere (a mismatch, a migration that refuses the data) leaves it untouched.
    """

    def adopt_and_upgrade(connection: Connection) -> str | None:
        try:
            adopt(connection)
            upgrade_connection(connection, revision)
        except AdoptionError as error:
            raise UpgradeError(str(error)) from None
        except (CommandError, RuntimeError) as error:
            raise UpgradeError(
                f"adopted, but the upgrade failed, so nothing was changed: {error}"
            ) from None
        return current_revision(connection)

    return asyncio.run(on_connection(url, adopt_and_upgrade, commit=True))


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
