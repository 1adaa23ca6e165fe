"""Requests under ``app.dependency_overrides`` cost what production's do: dependencies analysed once.

While an app has any dependency override, FastAPI's ``solve_dependencies`` rebuilds the description
of every dependency of the route on every request (``get_dependant``: the callable's signature,
every annotation evaluated, a pydantic field per parameter), where production, with no override,
reuses the one built with the route. The harness always overrides one dependency (the project's
sessionmaker), so every request of every test paid for that: about 2.5 ms of a typical API test
(10 % of the CPU time of the contexts and admin tests, measured), none of which production spends.

``install`` memoises ``get_dependant`` by its arguments, so a request builds each description once
per callable, as production does per route. This is FastAPI's internal function, reached in this one
place; ``backend/tests/harness/test_fastapi_overrides.py`` has a test that fails when FastAPI stops calling it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Hashable
from typing import Any

import fastapi.dependencies.utils as fastapi_dependencies

# Entries hold the callables they describe (a test's override closure among them): bounded.
CACHE_SIZE = 4096
_ORIGINAL: Callable[..., Any] = fastapi_dependencies.get_dependant


def _frozen(value: Any) -> Hashable:
    return tuple(value) if isinstance(value, list) else value


def _thawed(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


@functools.lru_cache(maxsize=CACHE_SIZE)
def _described(key: tuple[tuple[str, Hashable], ...]) -> Any:
    return _ORIGINAL(**{name: _thawed(value) for name, value in key})


def get_dependant(**arguments: Any) -> Any:
    """``get_dependant`` with the same keyword arguments, built once per distinct arguments."""
    key = tuple(sorted((name, _frozen(value)) for name, value in arguments.items()))
    try:
        return _described(key)
    except TypeError:  # an unhashable argument FastAPI may add one day: not cached
        return _ORIGINAL(**arguments)


def install() -> None:
    """Memoise FastAPI's dependency analysis for this process (the test run)."""
    fastapi_dependencies.get_dependant = get_dependant


def installed() -> bool:
    return fastapi_dependencies.get_dependant is get_dependant
