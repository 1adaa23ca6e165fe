"""One event loop for the whole run, whatever the project's pytest-asyncio settings say.

A worker's database connection is opened once (a session fixture) and belongs to the loop it was
opened on: a test or fixture on another loop fails with "attached to a different loop" (asyncpg)
or hangs. So the harness sets pytest-asyncio's two loop scopes to ``session`` when the project
leaves them unset, and stops the run when the project sets them to something else.

pytest has no public way for a plugin to give an ini option a default of its own: the value is
put in the Config's ini cache (``_inicache``), in ``_default_to`` only, before pytest-asyncio reads
it; ``harness/tests/test_second_project.py`` (a project with no loop settings) fails if pytest
changes that.
"""

from __future__ import annotations

import pytest

LOOP_SCOPE_OPTIONS = ("asyncio_default_fixture_loop_scope", "asyncio_default_test_loop_scope")
SESSION = "session"


def use_one_loop(config: pytest.Config) -> None:
    for name in LOOP_SCOPE_OPTIONS:
        configured = _configured_value(config, name)
        if configured is None:
            _default_to(config, name, SESSION)
        elif configured != SESSION:
            raise pytest.UsageError(
                f"{name} = {configured!r} in the ini file: the database fixtures of "
                f"pytest-dbharness hold one connection per worker, opened on the run's one event "
                f'loop; set {name} = "session" or remove the line (the harness then sets it)'
            )


def _configured_value(config: pytest.Config, name: str) -> str | None:
    overrides = [item.partition("=") for item in (config.option.override_ini or [])]
    for key, _, value in reversed(overrides):
        if key == name:
            return str(value).strip()
    inicfg = getattr(config, "_inicfg", {}) or {}
    if name not in inicfg:
        return None
    value = inicfg[name]
    return str(getattr(value, "value", value)).strip()


def _default_to(config: pytest.Config, name: str, value: str) -> None:
    config._inicache[name] = value
