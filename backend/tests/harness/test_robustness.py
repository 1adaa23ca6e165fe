"""The harness survives ordinary pytest options and read-only places (issue 12, point 7)."""

from __future__ import annotations

import pytest

from backend.tests.harness.inner import output_of, run_inner, write_inner_tests


def test_a_run_without_the_cache_provider_passes_and_says_where_the_schema_is_cached(
    pytester: pytest.Pytester,
) -> None:
    write_inner_tests(pytester, "def test_uses_the_database(database_url):\n    pass\n")
    scratch = pytester.path / "scratch"
    result = run_inner(pytester, "-v", "-p", "no:cacheprovider", DBHARNESS_SCRATCH_DIR=str(scratch))
    result.assert_outcomes(passed=1)
    assert "INTERNALERROR" not in output_of(result)
    assert f"({scratch}/" in result.stdout.str()
    assert "schema-cache)" in result.stdout.str()
