"""Per-engine hooks of the isolation code: small functions an engine's module may define.

Looked up by SQLAlchemy's dialect name in the engine's module (``backends/<engine>.py``); an engine
that does not define one gets the default given by the caller. This is where the isolation code's
engine differences live, instead of ``if dialect.name == ...`` branches.
"""

from __future__ import annotations

from typing import Any

from pytest_dbharness.backends import ENGINES


def engine_hook(dialect: str, name: str, default: Any = None) -> Any:
    """The engine's function ``name`` (for SQLAlchemy's ``dialect``), or ``default``."""
    for engine in ENGINES.values():
        if engine.dialect == dialect:
            return getattr(engine._functions(), name, default)
    return default
