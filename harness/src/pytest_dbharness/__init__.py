"""pytest-dbharness: the same tests on embedded SQLite or on a real PostgreSQL it launches itself.

pytest loads the plugin (``pytest_dbharness.plugin``) through its entry point. A project tells it
about itself with one ``Project``, named by ``harness_project`` in its pytest ini; the guide is
``docs/harness.md`` and the fixture reference ``docs/fixtures.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pytest_dbharness.project import Project

__all__ = ["Project"]


def __getattr__(name: str) -> Any:
    # Imported on first use (PEP 562): the project module pulls in FastAPI, SQLAlchemy and
    # Alembic, and the plugin's first statements (the interrupt handler, the limit on assertion
    # rewriting) must run before those imports, not after them.
    if name == "Project":
        from pytest_dbharness.project import Project

        return Project
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
