"""What the bench times: the commands a developer types, per engine of the harness's registry.

The engines come from ``pytest_dbharness.backends.ENGINES``: the first is the default ``--db`` (the
fast lane, what ``uv run pytest`` runs), every other one a parity engine, whose suite is compared
with the fast lane's and whose nox session (``tests-<engine>``) is the parity lane, sharded in CI.
"""

from __future__ import annotations

from dataclasses import dataclass

from pytest_dbharness.backends import ENGINES

# A test that does what most API tests do: a user, an authenticated client, one request.
ONE_TEST = "backend/tests/test_contexts.py::test_a_new_user_lists_no_contexts"
# xdist workers of the parity lane (the machines this runs on have 2 cores).
PARITY_WORKERS = 2
# A shard number beyond any suite's size: the shard collects and provisions, then runs nothing.
EMPTY_SHARD = 1_000_000
# The CPU yardstick Y: a pure-Python loop in a fresh interpreter (each pyperf worker is one).
YARDSTICK_RANGE = 6_000_000
YARDSTICK = "yardstick"


def yardstick() -> int:
    """One Y: ``sum(i*i for i in range(6_000_000))``, the issue's fixed CPU yardstick."""
    return sum(i * i for i in range(YARDSTICK_RANGE))


@dataclass(frozen=True)
class Figure:
    """One timed command; ``name`` is its pyperf benchmark name and its row in the report."""

    name: str
    command: tuple[str, ...]
    engine: str
    kind: str  # SUITE, ONE_TEST, PARITY_LANE or SHARD_START


SUITE, ONE, PARITY_LANE, SHARD_START = "suite", "one test", "parity lane", "shard start-up"


def default_engine() -> str:
    return next(iter(ENGINES))


def parity_engines() -> list[str]:
    return [name for name in ENGINES if name != default_engine()]


def suite_name(engine: str) -> str:
    """The name of an engine's serial suite figure: its row in the report, its log, its JUnit."""
    return f"suite, {ENGINES[engine].label}, serial"


def _pytest(uv: str, engine: str, *args: str) -> tuple[str, ...]:
    db = () if engine == default_engine() else ("--db", engine)
    return (uv, "run", "pytest", *db, *args)


def figures(uv: str) -> list[Figure]:
    """The figures of one bench run, in the order they are measured."""
    fast = default_engine()
    label = ENGINES[fast].label
    plan = [
        Figure(f"one test, {label}", _pytest(uv, fast, "-q", ONE_TEST), fast, ONE),
        Figure(suite_name(fast), _pytest(uv, fast, "-q"), fast, SUITE),
    ]
    for engine in parity_engines():
        label = ENGINES[engine].label
        # -r reuses the session's environment and still installs into it (about a second when
        # nothing changed): -R would skip the install and time a stale environment.
        lane = (uv, "run", "nox", "-r", "-s", f"tests-{engine}", "--", "-n", str(PARITY_WORKERS))
        plan += [
            Figure(suite_name(engine), _pytest(uv, engine, "-q"), engine, SUITE),
            Figure(f"parity lane, {label}: {' '.join(lane[2:])}", lane, engine, PARITY_LANE),
        ]
    for engine in ENGINES:
        empty = ("-q", "--splits", str(EMPTY_SHARD), "--group", str(EMPTY_SHARD))
        name = f"shard start-up, {ENGINES[engine].label} (an empty shard)"
        plan.append(Figure(name, _pytest(uv, engine, *empty), engine, SHARD_START))
    return plan


def yardstick_name(number: int) -> str:
    """Y is sampled before, between and after the timed commands: ``yardstick #1`` …"""
    return f"{YARDSTICK} #{number}"
