"""Substring search with LIKE that behaves the same on both engines, for any script."""

from __future__ import annotations

from typing import Any

from sqlalchemy import String
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import GenericFunction

LIKE_ESCAPE = "\\"
# SQLite's own lower() folds ASCII only, and the lower(email) unique index depends on it, so the
# search's folding is registered on every SQLite connection under a name of its own.
SQLITE_SEARCH_LOWER = "backend_search_lower"
# The one letter whose Python lowercase is two characters; PostgreSQL's lower() maps it to "i".
_LOWER_EXCEPTIONS = {"\u0130": "i"}


def like_pattern(text: str) -> str:
    """A LIKE pattern matching ``text`` anywhere, with its own ``%`` and ``_`` taken literally."""
    escaped = text.replace(LIKE_ESCAPE, LIKE_ESCAPE * 2).replace("%", r"\%").replace("_", r"\_")
    return f"%{escaped}%"


def search_lower(text: str | None) -> str | None:
    """Each character's simple lowercase, as PostgreSQL's lower() does under a UTF-8 locale.

    Character by character, so no context rule applies (Python's str.lower() lowers a final
    capital sigma to U+03C2, PostgreSQL to U+03C3), and sharp s stays itself as on PostgreSQL.
    """
    if text is None:
        return None
    return "".join(_LOWER_EXCEPTIONS.get(char) or char.lower() for char in text)


class folded(GenericFunction[str]):  # noqa: N801 - SQL functions are lower-case, like func.lower
    """``lower(x)`` on PostgreSQL, the registered ``search_lower`` on SQLite: for search only."""

    type = String()
    name = "folded"
    inherit_cache = True


@compiles(folded)
def _compile_folded(element: folded, compiler: SQLCompiler, **kw: Any) -> str:
    return f"lower({compiler.process(element.clauses, **kw)})"


@compiles(folded, "sqlite")
def _compile_folded_sqlite(element: folded, compiler: SQLCompiler, **kw: Any) -> str:
    return f"{SQLITE_SEARCH_LOWER}({compiler.process(element.clauses, **kw)})"
