"""Sharding across machines with pytest-split: ``--splits N --group K`` on either engine.

pytest-split gives the options, the durations file (``.test_durations``, written by
``--store-durations``) and the splitting algorithms. The harness adds three things it lacks:

- **The same shards in every job.** pytest-split cuts the collected list where it stands, and
  pytest-randomly shuffles that list with a seed of its own in each job, so two jobs could run
  overlapping tests and miss others. The harness splits the tests sorted by node id instead (with
  pytest-split's own algorithm), then runs its shard in the order the run chose.
- **Durations without set-up costs.** With ``--store-durations``, the time a test's set-up spent
  on session-scoped fixtures (the worker's database, the app), and its teardown on finalizing them,
  is not recorded as that test's: every shard pays it once, whichever test comes first.
- **An empty shard passes.** A shard beyond the number of tests runs nothing and says so, instead
  of failing with pytest's exit code 5.
"""

from __future__ import annotations

import time
from collections.abc import Generator, Iterable
from dataclasses import dataclass
from typing import Any

import pytest

try:
    from pytest_split import algorithms
except ImportError:  # a project without pytest-split: no --splits, and nothing here runs
    algorithms = None  # type: ignore[assignment]

# pytest-split's default: contiguous runs of the sorted ids, so a module mostly stays in one shard.
DEFAULT = "duration_based_chunks"
SPLIT_PLUGIN = "pytestsplitplugin"  # the name pytest-split registers its selection under
_ours_key = pytest.StashKey["Sharding"]()
_excluded_key = pytest.StashKey[float]()


@dataclass(frozen=True)
class _Node:
    """What pytest-split's algorithms read of a test: its node id."""

    nodeid: str


def split_ids(
    nodeids: Iterable[str], splits: int, durations: dict[str, float], algorithm: str = DEFAULT
) -> list[tuple[set[str], float]]:
    """Every shard's node ids and estimated seconds, with pytest-split's algorithm on sorted ids.

    The split sees the tests sorted by node id, so it does not depend on the order collected in.
    """
    if algorithms is None:
        raise RuntimeError("sharding needs pytest-split: pip install pytest-split")
    ordered = [_Node(nodeid) for nodeid in sorted(nodeids)]
    groups = algorithms.Algorithms[algorithm].value(splits, ordered, durations)
    return [({node.nodeid for node in group.selected}, group.duration) for group in groups]


def shard_of(
    items: list[pytest.Item], splits: int, group: int, durations: dict[str, float], algorithm: str
) -> tuple[list[pytest.Item], float]:
    """The items of shard ``group`` (1-based) of ``splits``, in their given order, and its estimate."""
    selected, estimate = split_ids([item.nodeid for item in items], splits, durations, algorithm)[
        group - 1
    ]
    return [item for item in items if item.nodeid in selected], estimate


class Sharding:
    """Replaces pytest-split's selection for one run given ``--splits`` and ``--group``."""

    def __init__(self, config: pytest.Config, durations: dict[str, float]) -> None:
        self.splits: int = config.option.splits
        self.group: int = config.option.group
        self.algorithm: str = config.option.splitting_algorithm
        self.durations = durations
        self.collected = 0

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(
        self, config: pytest.Config, items: list[pytest.Item]
    ) -> None:
        self.collected = len(items)
        # Each test fills at most one more shard: a shard past the number of tests is empty
        # (and pytest-split's algorithms take time in proportion to tests times shards).
        selected, estimate = (
            shard_of(items, self.splits, self.group, self.durations, self.algorithm)
            if self.group <= len(items)
            else ([], 0.0)
        )
        chosen = {id(item) for item in selected}
        config.hook.pytest_deselected(items=[item for item in items if id(item) not in chosen])
        items[:] = selected
        self.say(
            config,
            f"{len(selected)} of {self.collected} tests, estimated {estimate:.1f} s "
            f"({self.algorithm}, split by node id)",
        )

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED and self.collected:
            session.exitstatus = pytest.ExitCode.OK
            why = (
                "more shards than tests"
                if self.splits > self.collected
                else f"pytest-split's {self.algorithm} split gave them all to the other shards "
                "by their recorded durations; --splitting-algorithm least_duration gives every "
                "shard a test while there are as many tests as shards"
            )
            self.say(
                session.config,
                f"has no tests: the {self.collected} collected went to the other shards ({why}); "
                "nothing to run, so it passes",
            )

    def say(self, config: pytest.Config, what: str) -> None:
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(f"[pytest-split] shard {self.group}/{self.splits}: {what}")


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    # After pytest-split's own pytest_configure, which registered its selection when asked to.
    split = config.pluginmanager.get_plugin(SPLIT_PLUGIN)
    if split is not None:
        config.pluginmanager.unregister(split)
        config.stash[_ours_key] = ours = Sharding(config, dict(split.cached_durations))
        config.pluginmanager.register(ours, "dbharness-sharding")


def _storing(config: pytest.Config) -> bool:
    return bool(getattr(config.option, "store_durations", False))


def _is_wide(fixturedef: pytest.FixtureDef[Any]) -> bool:
    return fixturedef.scope == "session"


_depth_key = pytest.StashKey[int]()


@pytest.hookimpl(wrapper=True)
def pytest_fixture_setup(
    fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest
) -> Generator[None, Any, Any]:
    config = request.config
    if not (_storing(config) and _is_wide(fixturedef)):
        return (yield)
    # Session fixtures set up inside another one's set-up are in its time already.
    depth = config.stash.get(_depth_key, 0)
    config.stash[_depth_key] = depth + 1
    started = time.perf_counter()
    try:
        return (yield)
    finally:
        config.stash[_depth_key] = depth
        if depth == 0:
            _exclude(config, time.perf_counter() - started)
        # Runs just before the fixture's own teardown (finalizers run last-added first).
        fixturedef.addfinalizer(lambda: _teardown_starts(config, fixturedef))


_teardown_key = pytest.StashKey[dict[str, float]]()


def _teardown_starts(config: pytest.Config, fixturedef: pytest.FixtureDef[Any]) -> None:
    config.stash.setdefault(_teardown_key, {})[fixturedef.argname] = time.perf_counter()


def pytest_fixture_post_finalizer(
    fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest
) -> None:
    started = request.config.stash.get(_teardown_key, {}).pop(fixturedef.argname, None)
    if started is not None and _storing(request.config) and _is_wide(fixturedef):
        _exclude(request.config, time.perf_counter() - started)


def _exclude(config: pytest.Config, seconds: float) -> None:
    config.stash[_excluded_key] = config.stash.get(_excluded_key, 0.0) + seconds


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if _storing(item.config) and call.when in ("setup", "teardown"):
        excluded = item.config.stash.get(_excluded_key, 0.0)
        item.config.stash[_excluded_key] = 0.0
        report.duration = max(0.0, report.duration - excluded)
    return report
