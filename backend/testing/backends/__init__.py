"""The engines the harness can run on, by the name ``--db`` takes."""

from __future__ import annotations

from backend.testing.backends.base import DatabaseBackend, Provisioned, Report
from backend.testing.backends.postgres import PostgresBackend
from backend.testing.backends.sqlite import SQLiteBackend

BACKENDS: dict[str, type[DatabaseBackend]] = {"sqlite": SQLiteBackend, "postgres": PostgresBackend}

__all__ = ["BACKENDS", "DatabaseBackend", "Provisioned", "Report"]
