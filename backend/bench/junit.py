"""Engine against engine on the same tests: pytest's own times, from each suite run's JUnit file.

The whole runs' ratio (the issue's target) compares unequal sets: each engine also runs tests that
mean something on it alone (PostgreSQL's locks, its server's lifecycle) and skips the others'.
This compares the tests both engines ran, by node id, with the time pytest gave each (set-up,
call and teardown: JUnit's ``total``), and says what each engine ran alone.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any


def test_times(junit_xml: Path) -> dict[str, float]:
    """Seconds per test that ran (passed or failed; not skipped), keyed by class and name."""
    times = {}
    # The file is the one the bench's own pytest run just wrote, not untrusted input.
    for case in ET.parse(junit_xml).iter("testcase"):  # noqa: S314
        if case.find("skipped") is None:
            times[f"{case.get('classname')}::{case.get('name')}"] = float(case.get("time", 0))
    return times


@dataclass(frozen=True)
class Shared:
    """How two suite runs compare on the tests both ran, and what each ran alone."""

    tests: int
    fast_seconds: float
    parity_seconds: float
    fast_only: tuple[int, float]  # tests and seconds
    parity_only: tuple[int, float]

    @property
    def ratio(self) -> float:
        return self.parity_seconds / self.fast_seconds

    def as_record(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Shared:
        return cls(
            tests=record["tests"],
            fast_seconds=record["fast_seconds"],
            parity_seconds=record["parity_seconds"],
            fast_only=(record["fast_only"][0], record["fast_only"][1]),
            parity_only=(record["parity_only"][0], record["parity_only"][1]),
        )


def compare(fast: dict[str, float], parity: dict[str, float]) -> Shared | None:
    both = fast.keys() & parity.keys()
    if not both:
        return None
    fast_only = fast.keys() - both
    parity_only = parity.keys() - both
    return Shared(
        tests=len(both),
        fast_seconds=sum(fast[test] for test in both),
        parity_seconds=sum(parity[test] for test in both),
        fast_only=(len(fast_only), sum(fast[test] for test in fast_only)),
        parity_only=(len(parity_only), sum(parity[test] for test in parity_only)),
    )
