"""The CPU a timed suite run's own process used: the floor under a serial run's wall time.

A pytest plugin the bench loads into each timed suite run (``-p backend.bench.own_cpu``, through
``PYTEST_ADDOPTS``, so that the command timed is the one typed). When the run ends it writes, to
``$BENCH_OWN_CPU_FILE``, the CPU seconds of its own process (every thread: the tests, an in-thread
live server, the head start's waiting) and of the processes it waited for (inner runs, servers
started ahead or by a test; not a PostgreSQL server that ``pg_ctl`` detached).

A serial run cannot end before its own process has had its CPU, however idle the other cores
are: whatever else the run does can only go beside it. That is how far a serial lane can go
without making its own process's work smaller.
"""

from __future__ import annotations

import json
import os
import resource
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pytest

FILE_ENV = "BENCH_OWN_CPU_FILE"
PLUGIN = "backend.bench.own_cpu"


@dataclass(frozen=True)
class OwnCpu:
    """CPU seconds (user + system) of a run's own process and of the children it waited for."""

    own_seconds: float
    children_seconds: float

    def as_record(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> OwnCpu:
        return cls(own_seconds=record["own_seconds"], children_seconds=record["children_seconds"])


def _cpu_seconds(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def measured_now() -> OwnCpu:
    return OwnCpu(_cpu_seconds(resource.RUSAGE_SELF), _cpu_seconds(resource.RUSAGE_CHILDREN))


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    """Last, after the harness's own clean-up (its servers stopped and waited for)."""
    path = os.environ.get(FILE_ENV)
    if not path or hasattr(config, "workerinput"):  # an xdist worker is not the run's process
        return
    Path(path).write_text(json.dumps(measured_now().as_record()) + "\n")


def read(path: Path) -> OwnCpu | None:
    """What a run wrote, or None when it wrote nothing (it was not timed, or it crashed)."""
    if not path.exists():
        return None
    return OwnCpu.from_record(json.loads(path.read_text()))
