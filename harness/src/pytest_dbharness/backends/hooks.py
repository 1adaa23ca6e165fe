"""Per-engine hooks: small functions an engine's module may define, looked up by dialect name.

Looked up by SQLAlchemy's dialect name in the engine's module (``backends/<engine>.py``); an engine
that does not define one gets the default given by the caller. This is where the engine
differences of the isolation code, the migration checks and the engine set-up live, instead of
``if dialect.name == ...`` branches (docs/harness.md lists the hooks).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import make_url

from pytest_dbharness.backends import ENGINES


def engine_hook(dialect: str, name: str, default: Any = None) -> Any:
    """The engine's function ``name`` (for SQLAlchemy's ``dialect``), or ``default``."""
    for engine in ENGINES.values():
        if engine.dialect == dialect:
            found = engine.hook(name)
            return default if found is None else found
    return default


def connection_target_of(url: Any) -> tuple[str, Any] | None:
    """What a connection to ``url`` opens (a file, a server's database), as the engine's
    ``connection_target`` hook sees it, with SQLAlchemy's dialect name; None when it cannot say.

    Two URLs with different drivers (psycopg, asyncpg) or spellings of one place compare equal.
    """
    parsed = make_url(url)
    dialect = parsed.get_dialect()()
    cargs, cparams = dialect.create_connect_args(parsed)
    target = connection_target(dialect.name, list(cargs), dict(cparams))
    return None if target is None else (dialect.name, target)


def connection_target(dialect: str, cargs: list[Any], cparams: dict[str, Any]) -> Any:
    """What the driver's connect arguments open, by the engine's ``connection_target`` hook."""
    hook = engine_hook(dialect, "connection_target")
    return None if hook is None else hook(cargs, cparams)
