"""The shared test harness: a pytest plugin that runs the same tests on SQLite or PostgreSQL.

Load it with ``pytest_plugins = ["backend.testing.plugin"]``; ``docs/testing.md`` is its guide.
"""
