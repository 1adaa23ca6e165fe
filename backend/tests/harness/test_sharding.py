"""Sharding with pytest-split: every test in exactly one shard, whatever order each job collects
in; a shard beyond the number of tests passes; recorded durations leave set-up costs out.

Inner runs are in-process (``pytester``); the real suite's shards are computed from this run's
own collected tests and the repository's durations file, as each CI job computes its own.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from pytest_dbharness.sharding import shard_of
from pytest_split import algorithms

from backend.config import PROJECT_ROOT
from backend.tests.harness.inner import output_of, run_inner, write_inner_tests

DURATIONS = PROJECT_ROOT / ".test_durations"
# Each inner job may collect in another order (pytest-randomly shuffles with a seed of its own).
SHUFFLING_CONFTEST = """
import random

def pytest_collection_modifyitems(config, items):
    random.Random(config.getoption("group") or 0).shuffle(items)
"""
INNER_SUITE = """
import pytest

@pytest.mark.parametrize("n", range(7))
def test_numbered(n):
    pass

def test_alone():
    pass
"""


def run_split(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    """An inner run with pytest-split, which inner runs load only when named."""
    return run_inner(pytester, "-p", "pytest-split", *args)


def shard_ids(pytester: pytest.Pytester, splits: int, group: int) -> list[str]:
    result = run_split(pytester, "--co", "--splits", str(splits), "--group", str(group))
    assert result.ret == pytest.ExitCode.OK, output_of(result)
    return [line for line in result.stdout.lines if "::" in line and " " not in line]


@pytest.mark.parametrize("splits", [2, 3])
def test_shards_are_disjoint_and_together_are_the_suite_in_any_collection_order(
    pytester: pytest.Pytester, splits: int
) -> None:
    write_inner_tests(pytester, INNER_SUITE)
    pytester.makeconftest(SHUFFLING_CONFTEST)
    everything = run_split(pytester, "--co")
    suite = {line for line in everything.stdout.lines if "::" in line and " " not in line}
    shards = [shard_ids(pytester, splits, group) for group in range(1, splits + 1)]
    assert all(shards), shards
    together = [nodeid for shard in shards for nodeid in shard]
    assert sorted(together) == sorted(suite) and len(suite) == 8


def test_a_shard_beyond_the_number_of_tests_passes_and_says_why(pytester: pytest.Pytester) -> None:
    write_inner_tests(pytester, "def test_one():\n    pass\n\ndef test_two():\n    pass\n")
    result = run_split(pytester, "--splits", "3", "--group", "3")
    assert result.ret == pytest.ExitCode.OK, output_of(result)
    result.stdout.fnmatch_lines(["*shard 3/3: has no tests: the 2 collected went to the other*"])
    ran = run_split(pytester, "--splits", "3", "--group", "1")
    assert ran.ret == pytest.ExitCode.OK and "1 passed" in ran.stdout.str(), output_of(ran)


def test_a_shard_the_durations_left_empty_passes_and_names_the_algorithm_that_fills_it(
    pytester: pytest.Pytester,
) -> None:
    # One long test and three short ones: pytest-split's default chunks fill two shards of three.
    write_inner_tests(pytester, "\n".join(f"def test_{n}():\n    pass\n" for n in "abcd"))
    durations = {f"test_inner.py::test_{n}": 0.1 for n in "bcd"} | {"test_inner.py::test_a": 10}
    (pytester.path / ".test_durations").write_text(json.dumps(durations))
    result = run_split(pytester, "--splits", "3", "--group", "3")
    assert result.ret == pytest.ExitCode.OK, output_of(result)
    result.stdout.fnmatch_lines(
        ["*shard 3/3: has no tests: the 4 collected went to the other shards (pytest-split's *"]
    )
    assert "--splitting-algorithm least_duration" in result.stdout.str()
    filled = run_split(
        pytester, "--splits", "3", "--group", "3", "--splitting-algorithm", "least_duration"
    )
    assert filled.ret == pytest.ExitCode.OK and "passed" in filled.stdout.str(), output_of(filled)


def test_recorded_durations_leave_the_session_fixtures_set_up_out(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    write_inner_tests(
        pytester,
        """
        import time
        import pytest

        @pytest.fixture(scope="session")
        def slow_world():
            time.sleep(0.3)
            yield
            time.sleep(0.3)

        def test_first(slow_world):
            pass

        def test_last(slow_world):
            time.sleep(0.05)
        """,
    )
    durations = tmp_path / "durations.json"
    result = run_split(pytester, "--store-durations", f"--durations-path={durations}")
    assert result.ret == pytest.ExitCode.OK, output_of(result)
    recorded = json.loads(durations.read_text())
    first, last = (recorded[f"test_inner.py::test_{name}"] for name in ("first", "last"))
    assert first < 0.15, recorded  # not charged the 0.3 s set-up
    assert 0.05 <= last < 0.25, recorded  # its own 0.05 s, not the 0.3 s teardown


@pytest.mark.parametrize("splits", [2, 3])
def test_the_suites_shards_are_disjoint_and_together_are_this_run(
    request: pytest.FixtureRequest, splits: int
) -> None:
    """The tests of this run (the whole suite under ``uv run pytest``), split as CI splits them."""
    items = list(request.session.items)
    durations = json.loads(DURATIONS.read_text()) if DURATIONS.exists() else {}
    algorithm = algorithms.Algorithms.duration_based_chunks.name
    shuffled = random.Random(splits).sample(items, len(items))
    shards = [
        shard_of(items if group % 2 else shuffled, splits, group, durations, algorithm)[0]
        for group in range(1, splits + 1)
    ]
    together = [item.nodeid for shard in shards for item in shard]
    assert len(together) == len(set(together)) == len(items)
    assert set(together) == {item.nodeid for item in items}


def test_the_durations_file_is_fresh_enough_to_balance_the_suite(
    request: pytest.FixtureRequest,
) -> None:
    """Most of this run's tests have a recorded duration; else `nox -s durations` is due."""
    recorded = json.loads(DURATIONS.read_text())
    ids = [item.nodeid for item in request.session.items]
    known = sum(1 for nodeid in ids if nodeid in recorded)
    assert known >= 0.5 * len(ids), f"{len(ids) - known} of {len(ids)}: run `nox -s durations`"
