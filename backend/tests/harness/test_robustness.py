"""The harness survives ordinary pytest options and read-only places (issue 12, point 7)."""

from __future__ import annotations

from pathlib import Path

from backend.tests.harness.inner import run_inner, write_tests


def test_a_run_without_the_cache_provider_passes_and_says_where_the_schema_is_cached(
    tmp_path: Path,
) -> None:
    write_tests(tmp_path, "def test_uses_the_database(database_url):\n    pass\n")
    scratch = tmp_path / "scratch"
    result = run_inner(
        tmp_path, "-v", "-p", "no:cacheprovider", BACKEND_TEST_SCRATCH_DIR=str(scratch)
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "INTERNALERROR" not in result.stdout + result.stderr
    assert f"({scratch}/" in result.stdout
    assert "schema-cache)" in result.stdout
