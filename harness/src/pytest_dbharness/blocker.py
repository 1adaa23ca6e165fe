"""Tests never reach the developer's own database: connecting to the app's configured one fails.

The project tells the harness which database the app opens when nothing points it elsewhere
(``Project.configured_database_url``: the developer's ``BACKEND_DATABASE_URL``, or the default
SQLite file), read once when the run starts. Any engine of the test process that tries to
connect to it is refused before the driver opens it, so the file or database is left untouched,
and the test is stopped with one message naming the fixtures to use instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url

from pytest_dbharness.backends.hooks import connection_target, connection_target_of
from pytest_dbharness.stops import stop_test

USE_THE_FIXTURES = (
    "Tests never use the developer's database. Use the harness's fixtures: `app` or `client` "
    "(the app on this worker's database), `db_session` or `db_sessionmaker` (sessions in the "
    "test's isolation), or `database_url` / `db_engine` for an engine of your own on the "
    "worker's database; a test that builds its own app passes it settings for `database_url`."
)

# (dialect name, what the engine's connection_target hook makes of the blocked URL); per process.
_blocked: dict[str, Any] = {}
_deferring = False


def block(url: str | None) -> None:
    """Refuse, in this process, every connection to the database at ``url``."""
    _blocked.clear()
    if not url:
        return
    target = connection_target_of(url)
    if target is not None:
        _blocked[target[0]] = (target[1], make_url(url).render_as_string(hide_password=True))
    if not event.contains(Engine, "do_connect", _refuse):
        event.listen(Engine, "do_connect", _refuse)


@contextmanager
def deferring() -> Iterator[None]:
    """While a caller refuses every other connection itself, with a message of its own (the
    migrations: ``schema.py``), the blocker leaves the refusal to it."""
    global _deferring
    saved, _deferring = _deferring, True
    try:
        yield
    finally:
        _deferring = saved


def _refuse(dialect: Any, _record: Any, cargs: Any, cparams: Any) -> None:
    if _deferring:
        return
    blocked = _blocked.get(dialect.name)
    if (
        blocked is not None
        and connection_target(dialect.name, list(cargs), dict(cparams)) == blocked[0]
    ):
        stop_test(
            f"a test tried to connect to the app's configured database ({blocked[1]}), the "
            f"developer's own; the harness refused before anything was opened. {USE_THE_FIXTURES}"
        )
