"""What importing costs before the first test: ``python -X importtime -m pytest --co``, by package."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

from backend.bench.measuring import median_of_dicts
from backend.bench.suite import Suite, pytest_args
from backend.config import PROJECT_ROOT

_PREFIX = "import time:"


def summarise_importtime(stderr: str) -> dict[str, float]:
    """Seconds of import work ("self" time) per top-level package, from -X importtime output."""
    per_package: dict[str, float] = defaultdict(float)
    for line in stderr.splitlines():
        if not line.startswith(_PREFIX):
            continue
        self_us, _cumulative, module = (part.strip() for part in line[len(_PREFIX) :].split("|"))
        if not self_us.isdigit():
            continue  # the column titles
        per_package[module.split(".")[0]] += int(self_us) / 1e6
    return dict(per_package)


def measure_imports(suite: Suite, cache_dir: Path, repeat: int) -> dict[str, float]:
    """Median import seconds per top-level package, over ``repeat`` collect-only runs."""
    command = [sys.executable, "-X", "importtime", "-m", "pytest", "--co", "-q"]
    command += pytest_args(suite, cache_dir)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BACKEND_TEST_", "PYTEST_"))}
    runs = []
    for _ in range(repeat):
        result = subprocess.run(
            command, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, check=False
        )
        runs.append(summarise_importtime(result.stderr))
    return median_of_dicts(runs)


def top_packages(per_package: dict[str, float], count: int) -> list[tuple[str, float]]:
    """The ``count`` costliest packages, then everything else as one line."""
    ranked = sorted(per_package.items(), key=lambda item: item[1], reverse=True)
    rest = sum(seconds for _name, seconds in ranked[count:])
    return [*ranked[:count], *([(f"{len(ranked) - count} others", rest)] if rest else [])]


def own_and_others(per_package: dict[str, float], own: Iterable[str]) -> tuple[float, float]:
    """Seconds spent importing the project's own packages, and everything else."""
    names = set(own)
    mine = sum(seconds for name, seconds in per_package.items() if name in names)
    return mine, sum(per_package.values()) - mine
