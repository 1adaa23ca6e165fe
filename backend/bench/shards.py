"""The simulated makespan of the suite split across N machines, from the durations file.

Each shard costs its start-up (a shard with no tests, timed by the bench: interpreter, imports,
collection, provisioning the server and the schema) plus its tests' recorded durations, split as
``--splits N`` splits them (the harness's split on node ids, pytest-split's algorithm). The
makespan is the slowest shard: when the CI matrix would finish.
"""

from __future__ import annotations

import json
from pathlib import Path

from pytest_dbharness.sharding import split_ids

from backend.config import PROJECT_ROOT

DURATIONS = PROJECT_ROOT / ".test_durations"
SHARD_COUNTS = (2, 4, 8)


def read_durations(path: Path = DURATIONS) -> dict[str, float]:
    durations: dict[str, float] = json.loads(path.read_text()) if path.exists() else {}
    return durations


def makespan(durations: dict[str, float], splits: int, start_up: float) -> float:
    """Seconds until the slowest of ``splits`` shards ends, each starting in ``start_up``."""
    shards = split_ids(durations, splits, durations)
    return start_up + max(
        sum(durations[nodeid] for nodeid in nodeids) for nodeids, _estimate in shards
    )


def makespans(durations: dict[str, float], start_up: float) -> dict[str, float]:
    """``{"1": serial, "2": …, "4": …, "8": …}`` in seconds; empty without durations."""
    if not durations:
        return {}
    serial = start_up + sum(durations.values())
    return {"1": serial} | {str(n): makespan(durations, n, start_up) for n in SHARD_COUNTS}
