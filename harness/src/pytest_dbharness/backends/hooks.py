"""Per-engine hooks: small functions an engine's module may define, looked up by dialect name.

Looked up by SQLAlchemy's dialect name in the engine's module (``backends/<engine>.py``); an engine
that does not define one gets the default given by the caller. This is where the engine
differences of the isolation code, the migration checks and the engine set-up live, instead of
``if dialect.name == ...`` branches (docs/harness.md lists the hooks).
"""

from __future__ import annotations

from typing import Any

from pytest_dbharness.backends import ENGINES


def engine_hook(dialect: str, name: str, default: Any = None) -> Any:
    """The engine's function ``name`` (for SQLAlchemy's ``dialect``), or ``default``."""
    for engine in ENGINES.values():
        if engine.dialect == dialect:
            found = engine.hook(name)
            return default if found is None else found
    return default
