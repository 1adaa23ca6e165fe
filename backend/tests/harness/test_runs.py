"""Whole inner runs: options, markers, header, summary, overrides and committed clean-up."""

from __future__ import annotations

from pathlib import Path

from backend.tests.harness.inner import run_inner, write_tests


def test_an_unknown_engine_stops_the_run_listing_the_valid_ones(tmp_path: Path) -> None:
    write_tests(tmp_path, "def test_nothing():\n    pass\n")
    result = run_inner(tmp_path, "--db", "mysql")
    assert result.returncode == 4
    assert "unknown database engine 'mysql'" in result.stderr
    assert "sqlite, postgres" in result.stderr


def test_the_environment_variable_chooses_the_engine_too(tmp_path: Path) -> None:
    write_tests(tmp_path, "def test_nothing():\n    pass\n")
    result = run_inner(tmp_path, BACKEND_TEST_DB="oracle")
    assert result.returncode == 4
    assert "unknown database engine 'oracle'" in result.stderr


def test_header_shows_engine_schema_cache_and_phases(tmp_path: Path) -> None:
    write_tests(tmp_path, "def test_nothing(database_url):\n    pass\n")
    result = run_inner(tmp_path, "-v")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "database: sqlite, SQLite 3." in result.stdout
    assert "database schema: revision " in result.stdout
    assert "cache hit" in result.stdout or "cache miss" in result.stdout
    assert "database start-up:" in result.stdout


def test_engine_markers_skip_with_the_reason_and_are_counted(tmp_path: Path) -> None:
    write_tests(
        tmp_path,
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
    result = run_inner(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "postgres only: row locks exist only on PostgreSQL" in result.stdout
    assert (
        "1 tests ran on sqlite; 1 skipped as meaningful on the other engine only" in result.stdout
    )


def test_an_engine_marker_without_a_reason_is_an_error(tmp_path: Path) -> None:
    write_tests(
        tmp_path,
        """
        import pytest

        @pytest.mark.postgres_only
        def test_locks():
            pass
        """,
    )
    result = run_inner(tmp_path)
    assert result.returncode != 0
    assert "needs a reason" in result.stdout + result.stderr


def test_dependency_overrides_are_restored_whatever_a_test_did(tmp_path: Path) -> None:
    write_tests(
        tmp_path,
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
    result = run_inner(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout


def test_a_committed_test_leaves_nothing_for_the_next(tmp_path: Path) -> None:
    write_tests(
        tmp_path,
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
    result = run_inner(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout
