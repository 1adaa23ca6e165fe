"""The table lock PostgreSQL documents for the statements it refuses inside a transaction.

Those run outside one (an autocommit block), where their locks can only be sampled while they run
and a short one can end between two samples; their documented lock is added to what was seen.
``CREATE INDEX``, ``DROP INDEX`` and ``REINDEX`` with ``CONCURRENTLY`` take SHARE UPDATE EXCLUSIVE
on the table, which blocks neither reads nor writes (only other schema changes and VACUUM).
"""

from __future__ import annotations

import re
from collections.abc import Callable

SHARE_UPDATE_EXCLUSIVE = "ShareUpdateExclusiveLock"
_NAME = r"((?:\"[^\"]+\"|[\w$]+)(?:\.(?:\"[^\"]+\"|[\w$]+))?)"
_CREATE = re.compile(
    rf"^\s*CREATE\s+(?:UNIQUE\s+)?INDEX\s+CONCURRENTLY\b.*?\bON\s+(?:ONLY\s+)?{_NAME}",
    re.IGNORECASE | re.DOTALL,
)
_DROP = re.compile(rf"^\s*DROP\s+INDEX\s+CONCURRENTLY\s+(?:IF\s+EXISTS\s+)?{_NAME}", re.IGNORECASE)
_REINDEX = re.compile(
    rf"^\s*REINDEX\s+(?:\([^)]*\)\s*)?(INDEX|TABLE)\s+CONCURRENTLY\s+{_NAME}", re.IGNORECASE
)


def documented_locks(sql: str, table_of_index: Callable[[str], str | None]) -> dict[str, set[str]]:
    """``{table: {mode}}`` for a statement of the CONCURRENTLY family, else nothing."""
    table: str | None = None
    if match := _CREATE.match(sql):
        table = match.group(1)
    elif match := _DROP.match(sql):
        table = table_of_index(match.group(1))
    elif match := _REINDEX.match(sql):
        kind, name = match.groups()
        table = name if kind.upper() == "TABLE" else table_of_index(name)
    return {bare_name(table): {SHARE_UPDATE_EXCLUSIVE}} if table else {}


def bare_name(name: str) -> str:
    """A table as pg_class names it: no schema, unquoted, folded to lower case unless quoted."""
    last = name.split(".")[-1]
    return last[1:-1] if last.startswith('"') else last.lower()
