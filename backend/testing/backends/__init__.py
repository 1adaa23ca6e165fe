"""The engines the harness can run on, by the name ``--db`` takes.

Each backend's module is imported on first use: a SQLite run never loads psycopg, the PostgreSQL
server machinery or pytest-postgresql (about 50 ms of every process's start-up).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping

from backend.testing.backends.base import DatabaseBackend, Provisioned, Report

_MODULES = {
    "sqlite": ("backend.testing.backends.sqlite", "SQLiteBackend"),
    "postgres": ("backend.testing.backends.postgres", "PostgresBackend"),
}


class _Backends(Mapping[str, type[DatabaseBackend]]):
    """``BACKENDS[name]``: the backend class, its module imported when first asked for."""

    def __getitem__(self, name: str) -> type[DatabaseBackend]:
        module, attribute = _MODULES[name]
        backend: type[DatabaseBackend] = getattr(importlib.import_module(module), attribute)
        return backend

    def __iter__(self) -> Iterator[str]:
        return iter(_MODULES)

    def __len__(self) -> int:
        return len(_MODULES)


BACKENDS: Mapping[str, type[DatabaseBackend]] = _Backends()

__all__ = ["BACKENDS", "DatabaseBackend", "Provisioned", "Report"]
