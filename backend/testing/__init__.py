"""The shared test harness: a pytest plugin that runs the same tests on SQLite or PostgreSQL.

Load it with ``pytest_plugins = ["backend.testing.plugin"]``; its guide is ``docs/fixtures.md`` and
``docs/running.md`` (the docs site). It is development tooling: the wheel leaves it out.
"""
