"""Alembic from Python: the configuration, upgrades, and where a database stands."""

from __future__ import annotations

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

from alembic import command
from backend.config import PROJECT_ROOT

ALEMBIC_INI = PROJECT_ROOT / "alembic.ini"


def alembic_config(url: str | None = None, connection: Connection | None = None) -> Config:
    """Alembic's configuration for a URL, or for a connection the caller already holds."""
    config = Config(str(ALEMBIC_INI))
    config.set_main_option("script_location", str(PROJECT_ROOT / "alembic"))
    if url:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    if len(heads) != 1:
        raise RuntimeError(f"the migration history has {len(heads)} heads, expected one: {heads}")
    return heads[0]


def upgrade_connection(connection: Connection, revision: str = "head") -> None:
    """Upgrade through a sync connection (use ``AsyncConnection.run_sync`` from async code)."""
    command.upgrade(alembic_config(connection=connection), revision)


def current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()
