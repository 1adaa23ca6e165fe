"""Alembic from Python: the configuration, upgrades, and where a database stands."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import event, text
from sqlalchemy.engine import Connection

from backend.config import PROJECT_ROOT, Settings

# Alembic is imported where it is used: importing it costs about 0.1 s (every SQLAlchemy dialect's
# DDL), which the app's start and a test run whose schema is cached need not pay.
if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.runtime.migration import MigrationContext

ALEMBIC_INI = PROJECT_ROOT / "alembic.ini"
MIGRATIONS_DIR = PROJECT_ROOT / "alembic"


def alembic_config(url: str | None = None, connection: Connection | None = None) -> Config:
    """Alembic's configuration for a URL, or for a connection the caller already holds."""
    from alembic.config import Config

    config = Config(str(ALEMBIC_INI))
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@dataclass(frozen=True)
class MigrationTimeouts:
    """PostgreSQL's lock_timeout and statement_timeout for a migration run (durations, 0: none)."""

    lock_timeout: str
    statement_timeout: str

    @classmethod
    def from_settings(cls, settings: Settings) -> MigrationTimeouts:
        return cls(settings.migration_lock_timeout, settings.migration_statement_timeout)

    def settings(self) -> dict[str, str]:
        return {"lock_timeout": self.lock_timeout, "statement_timeout": self.statement_timeout}

    def apply(self, connection: Connection) -> None:
        """Set them for the connection's session (they outlast its transactions); PostgreSQL only."""
        if connection.dialect.name != "postgresql":
            return
        for name, value in self.settings().items():
            connection.execute(
                text("SELECT set_config(:name, :value, false)"), {"name": name, "value": value}
            )

    def offline_sql(self) -> str:
        """The same settings as SQL, for the top of ``alembic upgrade --sql`` (values validated)."""
        return "\n".join(f"SET {name} = '{value}';" for name, value in self.settings().items())


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    if len(heads) != 1:
        raise RuntimeError(f"the migration history has {len(heads)} heads, expected one: {heads}")
    return heads[0]


def upgrade_connection(connection: Connection, revision: str = "head") -> None:
    """Upgrade through a sync connection (use ``AsyncConnection.run_sync`` from async code)."""
    from alembic import command

    command.upgrade(alembic_config(connection=connection), revision)


def current_revision(connection: Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(connection).get_current_revision()


# The statements PostgreSQL refuses inside a transaction block, in the forms that have a plain
# (transactional) twin: the same statement without CONCURRENTLY.
_CONCURRENTLY = re.compile(
    r"^(\s*(?:CREATE\s+(?:UNIQUE\s+)?INDEX|DROP\s+INDEX|REINDEX\b[^;]*?))\s+CONCURRENTLY\b",
    re.IGNORECASE,
)
log = logging.getLogger("alembic.env")


def keep_autocommit_blocks_inside(migration_context: MigrationContext) -> None:
    """Run ``autocommit_block()`` inside the transaction the caller holds instead of committing it.

    A caller that hands over a connection in a transaction of its own (pytest-alembic's rollback
    checks, anyone who wants all or nothing) owns it; Alembic's block would have to commit it and
    fails instead (``assert self._transaction is not None``). Here the block's statements stay in
    that transaction, and on PostgreSQL an index built or dropped CONCURRENTLY is built or dropped
    plainly: the same schema, under the locks a transaction needs. What production runs, and what
    it locks, is traced by the migration checks through a connection with no transaction open.
    """

    @contextmanager
    def inside_callers_transaction() -> Iterator[None]:
        connection = migration_context.connection
        assert connection is not None
        if connection.dialect.name != "postgresql":
            yield
            return
        ours = connection.connection.dbapi_connection

        def plain_form(
            conn: Connection, _cursor: Any, statement: str, parameters: Any, *_rest: Any
        ) -> tuple[str, Any]:
            if conn.connection.dbapi_connection is ours and _CONCURRENTLY.match(statement):
                log.info("inside the caller's transaction: %s runs without CONCURRENTLY", statement)
                statement = _CONCURRENTLY.sub(r"\1", statement, count=1)
            return statement, parameters

        event.listen(connection.engine, "before_cursor_execute", plain_form, retval=True)
        try:
            yield
        finally:
            event.remove(connection.engine, "before_cursor_execute", plain_form)

    migration_context.autocommit_block = inside_callers_transaction  # type: ignore[method-assign]
