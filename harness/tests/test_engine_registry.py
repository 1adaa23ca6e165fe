"""Adding an engine is one module and one registry entry: a stub third engine, defined in
stub_engine.py alone, runs the second project's suite under ``--db stub``."""

from __future__ import annotations

from pathlib import Path

from runs import SAMPLE_PROJECT, SAMPLE_TESTS, outcome, run_pytest

TESTS = Path(__file__).resolve().parent


def _with_stub(*args: str) -> list[str]:
    return ["-p", "stub_engine", *args]


def test_a_stub_engine_from_one_module_runs_a_whole_suite() -> None:
    result = run_pytest(SAMPLE_PROJECT, *_with_stub("--db", "stub"), PYTHONPATH=str(TESTS))
    assert result.returncode == 0, outcome(result)
    assert "database: stub" in result.stdout, outcome(result)
    assert f"{SAMPLE_TESTS} passed" in result.stdout, outcome(result)


def test_the_stub_engine_has_its_marker_and_its_db_choice() -> None:
    markers = run_pytest(SAMPLE_PROJECT, *_with_stub("--markers"), PYTHONPATH=str(TESTS))
    assert "@pytest.mark.stub_only(reason)" in markers.stdout, outcome(markers)
    unknown = run_pytest(SAMPLE_PROJECT, "--db", "stub")
    assert unknown.returncode == 4, outcome(unknown)
    assert "choose one of: sqlite, postgres" in outcome(unknown), outcome(unknown)
