"""The ``backend`` command: serve, migrate, check, createsuperuser, changepassword and loaddata.

Commands are thin: each calls a small helper and turns the errors people can fix into one line on
stderr and exit code 1, without a traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Annotated, NoReturn, TypeVar

import typer
from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from backend.admin.schemas import AdminUserCreate
from backend.admin.service import add_user
from backend.auth.schemas import PasswordChange
from backend.auth.service import set_password_by_username
from backend.config import Settings, prepare_sqlite_directory
from backend.core.errors import DomainError
from backend.db import create_engine, create_sessionmaker, unit_of_work_options
from backend.django_adoption import BASELINE_REVISION
from backend.loaddata import LoadDataError, load_files
from backend.migrations import MigrationTimeouts
from backend.serving import ClientLimits
from backend.serving import serve as run_server
from backend.upgrades import (
    UpgradeError,
    adopt_django_database,
    first_line,
    require_head,
    shown_url,
    upgrade_database,
)

T = TypeVar("T")
# Where migrations report what they could not do for the operator (see _migration_warnings_shown).
MIGRATION_LOGGER = "alembic.runtime.migration"

app = typer.Typer(
    help="Run and administer the backend. The database is BACKEND_DATABASE_URL "
    "(default: an SQLite file in BACKEND_DATA_DIR).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


class CLIError(Exception):
    """A failure the user can fix; its message says how."""


# Helpers: plain functions over a URL, usable (and tested) without the command line.


def read_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as error:
        raise CLIError(f"the settings are invalid: {_describe_invalid(error)}") from None


def client_limits() -> ClientLimits:
    settings = read_settings()
    return ClientLimits(
        header_seconds=settings.header_timeout_seconds,
        body_seconds=settings.body_timeout_seconds,
        max_connections=settings.max_connections,
    )


def database_url() -> str:
    settings = read_settings()
    url = settings.resolved_database_url
    setting = "BACKEND_DATABASE_URL" if settings.database_url else "BACKEND_DATA_DIR"
    try:
        prepare_sqlite_directory(url, setting)
    except ValueError as error:
        raise CLIError(str(error)) from None
    return url


def migration_timeouts() -> MigrationTimeouts:
    """BACKEND_MIGRATION_LOCK_TIMEOUT and _STATEMENT_TIMEOUT (validated by database_url first)."""
    return MigrationTimeouts.from_settings(Settings())


async def _in_transaction(url: str, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run ``work`` in one session and commit; nothing is committed if it raises."""
    engine = create_engine(url)
    sessionmaker = create_sessionmaker(engine)
    try:
        # A write lock from the start on SQLite, so a running server's writes do not fail it.
        async with sessionmaker(**unit_of_work_options(sessionmaker, writes=True)) as session:
            result = await work(session)
            await session.commit()
            return result
    except SQLAlchemyError as error:
        raise CLIError(f"the database refused the change: {first_line(error)}") from None
    finally:
        await engine.dispose()


def create_superuser(url: str, data: AdminUserCreate) -> None:
    async def create(session: AsyncSession) -> None:
        await add_user(session=session, data=data, is_superuser=True)

    try:
        asyncio.run(_in_transaction(url, create))
    except DomainError as error:
        raise CLIError(f"{error.detail}; choose another") from None


def load_fixtures(
    url: str, paths: list[Path], *, unusable_weak_hashes: bool = False
) -> dict[str, int]:
    async def load(session: AsyncSession) -> dict[str, int]:
        return await load_files(session, paths, unusable_weak_hashes=unusable_weak_hashes)

    try:
        return asyncio.run(_in_transaction(url, load))
    except LoadDataError as error:
        raise CLIError(f"nothing was loaded: {error}") from None


# Commands.


def _fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code=1)


def _run(action: Callable[[], T]) -> T:
    try:
        return action()
    except (CLIError, UpgradeError) as error:
        _fail(str(error))


@contextlib.contextmanager
def _migration_warnings_shown() -> Iterator[None]:
    """What a migration reports (accounts it could not normalise, say) goes to stderr.

    Alembic gives its loggers a NullHandler, so without this its warnings would go nowhere.
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.setLevel(logging.WARNING)
    handler.setFormatter(logging.Formatter("warning: %(message)s"))
    logger = logging.getLogger(MIGRATION_LOGGER)
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)


def _upgrade(url: str, revision: str = "head") -> tuple[str | None, str | None]:
    with _migration_warnings_shown():
        return _run(lambda: upgrade_database(url, revision, timeouts=migration_timeouts()))


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    reload: Annotated[
        bool, typer.Option(help="Restart when the code changes (development).")
    ] = False,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            help="Worker processes (uvicorn's own); each has its own database connections. "
            "On SQLite writes still go one at a time: see docs/deployment.md.",
        ),
    ] = 1,
) -> None:
    """Upgrade the database to the newest revision, then serve the API with uvicorn."""
    if reload and workers > 1:
        _fail("--reload and --workers cannot be combined: use --reload alone while developing")
    url = _run(database_url)
    limits = _run(client_limits)
    _upgrade(url)
    run_server(host=host, port=port, workers=workers, reload=reload, client_limits=limits)


@app.command()
def migrate(
    revision: Annotated[
        str, typer.Argument(help="Revision to upgrade to (default: the newest).")
    ] = "head",
    adopt_django: Annotated[
        bool,
        typer.Option(
            "--adopt-django",
            help="The database was created by Django (it has auth_user, no alembic_version): "
            "check that its auth_user matches Django's, record it as our baseline revision, "
            "then upgrade. Refuses, changing nothing, when the table does not match.",
        ),
    ] = False,
) -> None:
    """Upgrade the database schema (upgrades only; downgrades are an `alembic` job).

    Each revision commits on its own. On PostgreSQL a statement that waits for a lock longer than BACKEND_MIGRATION_LOCK_TIMEOUT (default 5s), or runs longer than BACKEND_MIGRATION_STATEMENT_TIMEOUT (default 1h), is cancelled and its revision rolled back.
    """
    url = _run(database_url)
    if adopt_django:
        with _migration_warnings_shown():
            adopted = _run(
                lambda: adopt_django_database(url, revision, timeouts=migration_timeouts())
            )
        typer.echo(
            f"{shown_url(url)}: adopted Django's auth_user as revision {BASELINE_REVISION}, "
            f"upgraded to {adopted}"
        )
        return
    before, after = _upgrade(url, revision)
    if before == after:
        typer.echo(f"{shown_url(url)}: already at revision {after or 'none'}")
    else:
        typer.echo(f"{shown_url(url)}: upgraded from {before or 'an empty database'} to {after}")


@app.command()
def check() -> None:
    """Exit 0 if the database is reachable and at the newest revision, else 1 with the reason."""
    url = _run(database_url)
    revision = _run(lambda: require_head(url))
    typer.echo(f"{shown_url(url)}: ok, at revision {revision} (the newest)")


@app.command()
def createsuperuser(
    username: Annotated[str | None, typer.Option(help="Login name.")] = None,
    email: Annotated[str | None, typer.Option(help="Email address (may be empty).")] = None,
    password: Annotated[
        str | None,
        typer.Option(
            help="Password (8+ characters); safer from the environment than on the command line.",
            envvar="BACKEND_SUPERUSER_PASSWORD",
        ),
    ] = None,
    no_input: Annotated[
        bool, typer.Option("--no-input", help="Never prompt; every option is then required.")
    ] = False,
) -> None:
    """Create an active superuser (also staff), prompting for what the options leave out."""
    if no_input and (username is None or email is None or password is None):
        _fail("--no-input needs --username, --email and --password (or BACKEND_SUPERUSER_PASSWORD)")
    username = username if username is not None else typer.prompt("Username")
    email = email if email is not None else typer.prompt("Email", default="", show_default=False)
    if password is None:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        data = AdminUserCreate(username=username, email=email, password=password, is_staff=True)
    except ValidationError as error:
        _fail(_describe_invalid(error))
    url = _run(database_url)
    _run(lambda: require_head(url))
    _run(lambda: create_superuser(url, data))
    typer.echo(f"superuser {data.username!r} created")


@app.command()
def changepassword(
    username: Annotated[str, typer.Argument(help="Whose password to change.")],
    password: Annotated[
        str | None,
        typer.Option(
            help="The new password (8+ characters); safer from the environment. Prompted for "
            "(twice) when not given.",
            envvar="BACKEND_NEW_PASSWORD",
        ),
    ] = None,
) -> None:
    """Set a user's password; every token issued to that user before stops working."""
    if password is None:
        password = typer.prompt("New password", hide_input=True, confirmation_prompt=True)
    try:
        PasswordChange(current_password="", new_password=password)
    except ValidationError as error:
        _fail(_describe_invalid(error).replace("new_password", "password"))
    url = _run(database_url)
    _run(lambda: require_head(url))

    async def change(session: AsyncSession) -> None:
        await set_password_by_username(session=session, username=username, password=password)

    try:
        _run(lambda: asyncio.run(_in_transaction(url, change)))
    except DomainError as error:
        _fail(error.detail)
    typer.echo(f"password of {username!r} changed; its older tokens no longer work")


def _describe_invalid(error: ValidationError) -> str:
    problems = []
    for detail in error.errors():
        where = ".".join(map(str, detail["loc"]))
        message = detail["msg"].removeprefix("Value error, ")
        # Settings' messages name their environment variable themselves.
        named = not where or message.startswith("BACKEND_")
        problems.append(message if named else f"{where}: {message}")
    return "; ".join(problems)


@app.command()
def loaddata(
    files: Annotated[
        list[Path], typer.Argument(metavar="FILE", help="Django dumpdata JSON files.")
    ],
    unusable_weak_hashes: Annotated[
        bool,
        typer.Option(
            "--unusable-weak-hashes",
            help="Load users whose password hash is weak (md5, sha1, unsalted, crypt, plain "
            "text) or too costly with an unusable password instead of refusing the files.",
        ),
    ] = False,
) -> None:
    """Load Django `dumpdata` JSON files in one transaction: every object, or none on any error.

    Passwords hashed by Django (pbkdf2, argon2, bcrypt_sha256, scrypt) log in and are upgraded.
    """
    url = _run(database_url)
    _run(lambda: require_head(url))
    counts = _run(lambda: load_fixtures(url, files, unusable_weak_hashes=unusable_weak_hashes))
    summary = ", ".join(f"{label} {count}" for label, count in counts.items()) or "nothing"
    typer.echo(f"loaded {sum(counts.values())} objects: {summary}")


def main() -> None:
    app()
