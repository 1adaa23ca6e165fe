"""Which test modules the benchmark times, and the pytest command line that runs them."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from backend.config import PROJECT_ROOT

TESTS_DIR = PROJECT_ROOT / "backend" / "tests"
HARNESS_TESTS = TESTS_DIR / "harness"
# A module that starts processes measures how robust the harness is (inner pytest runs, each with
# its own imports and server), not what isolation costs per test.
_SPAWNS = re.compile(
    r"^\s*(?:import subprocess|from subprocess import|import multiprocessing"
    r"|from multiprocessing import|from backend\.tests\.harness\b)",
    re.MULTILINE,
)


@dataclass(frozen=True)
class Suite:
    tests_dir: Path
    # (path relative to the project, why it is left out)
    excluded: tuple[tuple[str, str], ...]


def why_excluded(path: Path, source: str) -> str | None:
    """Why a test module is left out of the timed suite, or None when it is timed."""
    if path.is_relative_to(HARNESS_TESTS):
        return "harness test: launches inner pytest sessions"
    if _SPAWNS.search(source):
        return "spawns subprocesses"
    return None


def untracked(directory: Path) -> set[Path]:
    """Files under ``directory`` that git does not track (none when this is not a checkout)."""
    git = shutil.which("git")
    if git is None:
        return set()
    listed = subprocess.run(
        [git, "ls-files", "--others", "--exclude-standard", "-z", "--", str(directory)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if listed.returncode != 0:
        return set()
    return {PROJECT_ROOT / name for name in listed.stdout.split("\0") if name}


def select_suite(tests_dir: Path = TESTS_DIR) -> Suite:
    """The test directory, less the modules that start processes and those git does not track.

    Chosen again before every run: the directory, not a list of its files, goes to pytest, so a
    module added or removed meanwhile is not a usage error. Untracked modules are someone's work
    in progress or scratch (a 95-second fuzzing file once appeared here in the middle of a run):
    timing them would measure that, not the suite.
    """
    excluded = []
    scratch = untracked(tests_dir)
    for path in sorted(tests_dir.rglob("test_*.py")):
        why = why_excluded(path, path.read_text(encoding="utf-8", errors="replace"))
        if why is None and path in scratch:
            why = "not tracked by git: work in progress"
        if why is not None:
            excluded.append((str(path.relative_to(PROJECT_ROOT)), why))
    return Suite(tests_dir=tests_dir, excluded=tuple(excluded))


def pytest_args(suite: Suite, cache_dir: Path) -> list[str]:
    """The arguments every measured run shares: the suite, its own schema cache, file order."""
    ignored = {str(HARNESS_TESTS.relative_to(PROJECT_ROOT)), *(path for path, _ in suite.excluded)}
    return [
        str(suite.tests_dir.relative_to(PROJECT_ROOT)),
        *(f"--ignore={path}" for path in sorted(ignored)),
        "-p",
        "no:randomly",
        # Its own cache: a cold run rebuilds the cached schema, and must not pull the cache out
        # from under a developer's run on the same machine.
        "-o",
        f"cache_dir={cache_dir}",
    ]
