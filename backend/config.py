"""Settings, read once from ``BACKEND_*`` environment variables and a ``.env`` file, and validated."""

from __future__ import annotations

import contextlib
import os
import re
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import Annotated, Self

from pydantic import Field, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from backend.secrets_files import (
    HOW_TO_MAKE_A_KEY,
    private_dir,
    read_or_create_key,
    secret_key_problem,
)

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Environment(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


def normalise_database_url(url: str) -> str:
    """Map the URL forms people paste (``postgres://``, ``postgresql://``) to the async drivers."""
    for prefix in ("postgres://", "postgresql://", "postgresql+psycopg2://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url.removeprefix(prefix)
    if url.startswith("sqlite://") and not url.startswith("sqlite+"):
        return "sqlite+aiosqlite://" + url.removeprefix("sqlite://")
    return url


# A duration as PostgreSQL's settings take it (lock_timeout, statement_timeout); 0 is no limit.
POSTGRESQL_DURATION = re.compile(r"\d+\s*(us|ms|s|min|h|d)?")

# The engines the backend runs on, by SQLAlchemy backend name, and the async driver each needs.
SUPPORTED_DRIVERS = {"postgresql": "psycopg", "sqlite": "aiosqlite"}
URL_EXAMPLES = "postgresql://USER:PASSWORD@HOST:5432/NAME or sqlite:///PATH/TO/FILE.sqlite3"


def check_database_url(url: str) -> str:
    """Refuse, in one line naming the setting, a URL the backend could not use; else return it."""
    if not url:
        return url
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ValueError(
            f"BACKEND_DATABASE_URL is not a database URL; set it to {URL_EXAMPLES}"
        ) from None
    backend, driver = parsed.get_backend_name(), parsed.get_driver_name()
    if backend not in SUPPORTED_DRIVERS:
        raise ValueError(
            f"BACKEND_DATABASE_URL names the {backend!r} engine, which the backend does not "
            f"support; use PostgreSQL or SQLite: {URL_EXAMPLES}"
        )
    if driver != SUPPORTED_DRIVERS[backend]:
        raise ValueError(
            f"BACKEND_DATABASE_URL names the driver {driver!r}; leave the driver out "
            f"({backend}://…) and the backend uses {SUPPORTED_DRIVERS[backend]}"
        )
    return url


def prepare_sqlite_directory(url: str, setting: str) -> None:
    """Create an SQLite file's directory as the engine would; refuse one SQLite cannot write in.

    Raises ValueError with one line naming ``setting``; the commands print it (backend.cli).
    """
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return
    path = Path(parsed.database)
    try:
        # Private: the database holds the password hashes.
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as error:
        problem = error.strerror or type(error).__name__
        raise ValueError(
            f"{setting}: cannot create the directory {path.parent} for the SQLite file "
            f"({problem}); point {setting} at a directory the backend may write to"
        ) from None
    # SQLite writes its journal and WAL files beside the database, so the directory must be writable.
    if not os.access(path.parent, os.W_OK | os.X_OK) or path.is_dir():
        raise ValueError(
            f"{setting}: the SQLite file {path} cannot be written there; "
            f"point {setting} at a writable file in a writable directory"
        )


class Settings(BaseSettings):
    """Everything the service reads from its environment."""

    model_config = SettingsConfigDict(
        env_prefix="BACKEND_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    environment: Environment = Environment.DEVELOPMENT
    data_dir: Path = PROJECT_ROOT / "data"
    # Empty means: the embedded SQLite file ``<data_dir>/backend.sqlite3``.
    database_url: str = ""
    secret_key: str = ""
    access_token_minutes: int = Field(default=60, gt=0, le=60 * 24 * 30)
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Per client address and username; and per username from all addresses together.
    login_attempts_per_minute: int = Field(default=10, gt=0)
    login_attempts_per_hour_per_username: int = Field(default=100, gt=0)
    # Larger request bodies get 413 before anything reads them (the biggest valid body, an entry
    # of 100,000 characters, is at most 400 kB as UTF-8 JSON).
    max_body_bytes: int = Field(default=1024 * 1024, gt=0)
    # Migrations on PostgreSQL (backend migrate, serve): how long a statement may wait for a lock,
    # and how long it may run, before PostgreSQL cancels it and its revision is rolled back. A
    # short lock wait keeps a migration from queueing every query behind its ACCESS EXCLUSIVE.
    migration_lock_timeout: str = "5s"
    migration_statement_timeout: str = "1h"
    # A refused body (413) is read and thrown away up to this much before the connection closes,
    # so the client, still sending, can read the 413 instead of a reset connection.
    max_discarded_body_bytes: int = Field(default=16 * 1024 * 1024, ge=0)
    # Slow clients, per connection (backend serve): a request's headers must be in this long after
    # the connection opens (or the previous response ends), its body this long after its headers;
    # past either the client gets 408 and the connection is closed.
    header_timeout_seconds: float = Field(default=10.0, gt=0)
    body_timeout_seconds: float = Field(default=20.0, gt=0)
    # Open connections per worker process; the one over gets 503 with Retry-After.
    max_connections: int = Field(default=100, gt=0)

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value

    @field_validator("migration_lock_timeout", "migration_statement_timeout")
    @classmethod
    def _postgresql_duration(cls, value: str, info: ValidationInfo) -> str:
        value = value.strip()
        if not POSTGRESQL_DURATION.fullmatch(value):
            setting = f"BACKEND_{str(info.field_name).upper()}"
            raise ValueError(
                f"{setting} must be a PostgreSQL duration such as 500ms, 5s, 2min or 1h "
                f"(0 means no limit); got {value!r}"
            )
        return value

    @field_validator("database_url")
    @classmethod
    def _normalise_url(cls, value: str) -> str:
        return check_database_url(normalise_database_url(value.strip()))

    @model_validator(mode="after")
    def _refuse_weak_secret_in_production(self) -> Self:
        if self.environment is not Environment.PRODUCTION:
            return self
        problem = "it is not set" if not self.secret_key else secret_key_problem(self.secret_key)
        if problem:
            raise ValueError(
                f"BACKEND_SECRET_KEY is unfit to sign tokens in production: {problem}. "
                f"Set it to a long random value, made for example with: {HOW_TO_MAKE_A_KEY}"
            )
        return self

    @cached_property
    def resolved_database_url(self) -> str:
        """The URL engines connect to; the embedded SQLite file when none is configured."""
        if self.database_url:
            return self.database_url
        # The data directory holds the password hashes and the key: its owner's alone. (Made
        # where the database is prepared; one that cannot be reached is reported there.)
        if self.data_dir.is_dir():
            with contextlib.suppress(OSError):
                private_dir(self.data_dir)
        return f"sqlite+aiosqlite:///{self.data_dir / 'backend.sqlite3'}"

    @cached_property
    def signing_key(self) -> str:
        """The token signing key: the configured one, or one generated once and kept in data_dir."""
        if self.secret_key:
            return self.secret_key
        return read_or_create_key(self.data_dir / "secret_key")
