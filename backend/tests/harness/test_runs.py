"""Whole inner runs: options, markers, header, summary, overrides and committed clean-up.

They run in this process (``pytester``): none of them is about a separate process.
"""

from __future__ import annotations

import pytest

from backend.tests.harness.inner import output_of, run_inner, write_inner_tests


def test_an_unknown_engine_stops_the_run_listing_the_valid_ones(pytester: pytest.Pytester) -> None:
    write_inner_tests(pytester, "def test_nothing():\n    pass\n")
    result = run_inner(pytester, "--db", "mysql")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "unknown database engine 'mysql'" in result.stderr.str()
    assert "sqlite, postgres" in result.stderr.str()


def test_the_environment_variable_chooses_the_engine_too(pytester: pytest.Pytester) -> None:
    write_inner_tests(pytester, "def test_nothing():\n    pass\n")
    result = run_inner(pytester, DBHARNESS_DB="oracle")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "unknown database engine 'oracle'" in result.stderr.str()


def test_header_shows_engine_schema_cache_and_phases(pytester: pytest.Pytester) -> None:
    write_inner_tests(pytester, "def test_nothing(database_url):\n    pass\n")
    result = run_inner(pytester, "-v")
    assert result.ret == pytest.ExitCode.OK, output_of(result)
    result.stdout.fnmatch_lines(
        [
            "database: sqlite, SQLite 3.*",
            "database schema: revision *, cache [hm]i[ts]*",
            "database start-up:*",
        ]
    )


def test_engine_markers_skip_with_the_reason_and_are_counted(pytester: pytest.Pytester) -> None:
    write_inner_tests(
        pytester,
        """
        import pytest

        @pytest.mark.postgres_only(reason="row locks exist only on PostgreSQL")
        def test_locks():
            pass

        @pytest.mark.sqlite_only(reason="PRAGMA is SQLite's")
        def test_pragma():
            pass
        """,
    )
    result = run_inner(pytester)
    assert result.ret == pytest.ExitCode.OK, output_of(result)
    assert "postgres only: row locks exist only on PostgreSQL" in result.stdout.str()
    assert (
        "1 tests ran on sqlite; 1 skipped as meaningful on the other engine only"
        in result.stdout.str()
    )


def test_an_engine_marker_without_a_reason_is_an_error(pytester: pytest.Pytester) -> None:
    write_inner_tests(
        pytester,
        """
        import pytest

        @pytest.mark.postgres_only
        def test_locks():
            pass
        """,
    )
    result = run_inner(pytester)
    assert result.ret != pytest.ExitCode.OK
    assert "needs a reason" in output_of(result)


def test_dependency_overrides_are_restored_whatever_a_test_did(pytester: pytest.Pytester) -> None:
    write_inner_tests(
        pytester,
        """
        from backend.db import get_sessionmaker

        def marker():
            return "leaked"

        def test_one_tampers(app):
            app.dependency_overrides.clear()
            app.dependency_overrides[marker] = marker

        def test_two_sees_a_clean_app(app):
            assert marker not in app.dependency_overrides
            assert set(app.dependency_overrides) == {get_sessionmaker}
        """,
    )
    result = run_inner(pytester)
    result.assert_outcomes(passed=2)


def test_a_committed_test_leaves_nothing_for_the_next(pytester: pytest.Pytester) -> None:
    write_inner_tests(
        pytester,
        """
        import pytest
        from sqlalchemy import func, select
        from backend.models import User
        from backend.tests.factories import make_user

        @pytest.mark.committed
        async def test_one_commits(db_session):
            await make_user(db_session, username="committed-for-real")

        async def test_two_finds_an_empty_table(db_session):
            assert await db_session.scalar(select(func.count()).select_from(User)) == 0
        """,
    )
    result = run_inner(pytester)
    result.assert_outcomes(passed=2)


def test_passwords_hash_at_the_test_cost_unless_the_run_asks_for_production_hashing(
    pytester: pytest.Pytester,
) -> None:
    write_inner_tests(
        pytester,
        """
        from backend.auth.passwords import hash_password, password_hash

        def test_hash():
            stored = hash_password("a password")
            assert password_hash.verify("a password", stored)
            print("STORED", stored.rsplit("$", 2)[0])
        """,
    )
    # The cheap hashing is this app's fixture (backend/tests/fixtures/hashing.py), not the harness's.
    hashing = ("-p", "backend.tests.fixtures.hashing")
    cheap = run_inner(pytester, "-s", *hashing)
    cheap.assert_outcomes(passed=1)
    cheap.stdout.fnmatch_lines(["*STORED $argon2id$v=19$m=1024,t=1,p=1*"])
    production = run_inner(pytester, "-s", *hashing, "--production-hashing")
    production.assert_outcomes(passed=1)
    production.stdout.fnmatch_lines(["*STORED $argon2id$v=19$m=65536,t=3,p=4*"])
