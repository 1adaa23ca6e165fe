"""The generic claim, tested: a project that differs from the backend where real apps differ
(sample_project/: a dependency yielding a session, asyncpg, UUID and rowid keys, server clock
defaults, TrustedHostMiddleware, pytest-asyncio strict mode with no loop settings) passes its suite
under the plugin on both engines, serially and with two xdist workers."""

from __future__ import annotations

import pytest
from runs import SAMPLE_PROJECT, SAMPLE_TESTS, outcome, run_pytest

ENGINES = ["sqlite", "postgres"]


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["serial", "two-workers"])
@pytest.mark.parametrize("engine", ENGINES)
def test_the_second_projects_suite_passes(engine: str, workers: list[str]) -> None:
    result = run_pytest(SAMPLE_PROJECT, "--db", engine, *workers)
    assert result.returncode == 0, outcome(result)
    assert f"{SAMPLE_TESTS} passed" in result.stdout, outcome(result)


def test_the_header_names_the_apps_driver() -> None:
    result = run_pytest(SAMPLE_PROJECT, "--db", "postgres", "-k", "round_trips")
    assert "the app's driver asyncpg" in result.stdout, outcome(result)


@pytest.mark.parametrize("engine", ENGINES)
def test_the_second_projects_suite_passes_with_production_commits(engine: str) -> None:
    # --isolation commit: every session and request on its own connection, real commits.
    result = run_pytest(SAMPLE_PROJECT, "--db", engine, "--isolation", "commit", "-n", "2")
    assert result.returncode == 0, outcome(result)
    assert f"{SAMPLE_TESTS} passed" in result.stdout, outcome(result)
