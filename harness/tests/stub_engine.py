"""A third engine in one module, registered from outside the plugin (docs/harness.md, "Adding an
engine"): it keeps its databases as SQLite files, under a registry name of its own."""

from __future__ import annotations

from pytest_dbharness.backends import Engine, register
from pytest_dbharness.backends.sqlite import SQLiteController, clone, create_empty, drop

CONTROLLER = SQLiteController

__all__ = ["CONTROLLER", "clone", "create_empty", "drop"]

register("stub", Engine(label="Stub engine", dialect="sqlite", module=__name__))
