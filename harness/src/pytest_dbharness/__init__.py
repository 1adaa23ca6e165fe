"""pytest-dbharness: the same tests on embedded SQLite or on a real PostgreSQL it launches itself.

pytest loads the plugin (``pytest_dbharness.plugin``) through its entry point. A project tells it
about itself with one ``Project``, named by ``harness_project`` in its pytest ini; the guide is
``docs/harness.md`` and the fixture reference ``docs/fixtures.md``.
"""

from pytest_dbharness.project import Project

__all__ = ["Project"]
