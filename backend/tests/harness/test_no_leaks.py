"""Issue 19, points 1 and 2: whatever a test did, the next one starts clean, and no test reaches the
developer's own database. Inner runs use this run's engine, so each engine's run checks its own."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from backend.tests.fixtures.head_start import HEAD, Ahead, for_test
from backend.tests.harness.conftest import engine_options
from backend.tests.harness.inner import (
    output_of,
    result_of,
    run_inner,
    start_inner,
    write_inner_tests,
    write_tests,
)

# Point 1: a test that sends two requests at once with a plain gather, then 50 ordinary tests.
ONE_BAD_THEN_FIFTY = """
import asyncio

import pytest
from sqlalchemy import func, select

from backend.models import User
from backend.tests.factories import make_user


async def test_sends_two_requests_at_once(client):
    await asyncio.gather(
        client.post("/auth/token", data={"username": "a", "password": "b"}),
        client.post("/auth/token", data={"username": "c", "password": "d"}),
    )


@pytest.mark.parametrize("n", range(50))
async def test_ordinary(db_session, client, n):
    await make_user(db_session, username=f"ordinary-{n}")
    assert (await client.get("/health")).status_code == 200
    assert await db_session.scalar(select(func.count()).select_from(User)) == 1
"""


def test_requests_at_once_fail_their_test_alone(
    pytester: pytest.Pytester, on_this_engine: list[str]
) -> None:
    write_inner_tests(pytester, ONE_BAD_THEN_FIFTY)
    result = run_inner(pytester, *on_this_engine, "--isolation", "rollback")
    result.assert_outcomes(passed=50, failed=1)
    result.stdout.fnmatch_lines(["*2 requests were in flight at once in a rolled-back test*"])


def _with_two_workers(
    config: pytest.Config, directory: Path, *_: Any, **__: Any
) -> pytest.RunResult:
    """The run of ``ONE_BAD_THEN_FIFTY`` with two xdist workers, in a process of its own."""
    write_tests(directory, ONE_BAD_THEN_FIFTY)
    return result_of(start_inner(directory, *engine_options(config), "-n", "2", "-p", "xdist"))


# Three processes that mostly import and wait (about 1.5 s, 3 s on PostgreSQL): run at a serial
# run's first test, beside the tests before this one (fixtures/head_start.py).
HEAD_START = {
    "two workers run": Ahead(
        needed_by=for_test("test_requests_at_once_fail_their_test_alone_with_two_workers"),
        start=_with_two_workers,
        fixtures=("database_url",),  # provisioned before the thread reads the server's URL
    )
}


def test_requests_at_once_fail_their_test_alone_with_two_workers(
    pytestconfig: pytest.Config, tmp_path: Path
) -> None:
    result = HEAD.take("two workers run") or _with_two_workers(pytestconfig, tmp_path)
    result.assert_outcomes(passed=50, failed=1)
    assert " error" not in result.stdout.lines[-1], result.stdout.str()


def test_a_test_that_breaks_the_connection_is_failed_and_the_connection_replaced(
    pytester: pytest.Pytester, on_this_engine: list[str]
) -> None:
    write_inner_tests(
        pytester,
        """
        import pytest
        from sqlalchemy import func, select

        from backend.models import User
        from backend.tests.factories import make_user


        async def test_breaks_the_connection(db_session):
            connection = await db_session.connection()
            await connection.invalidate()


        @pytest.mark.parametrize("n", range(5))
        async def test_ordinary(db_session, client, n):
            await make_user(db_session, username=f"ordinary-{n}")
            assert (await client.get("/health")).status_code == 200
            assert await db_session.scalar(select(func.count()).select_from(User)) == 1
        """,
    )
    result = run_inner(pytester, *on_this_engine, "--isolation", "rollback")
    result.assert_outcomes(passed=6, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_breaks_the_connection*",
            "*this test left the worker's database connection unusable: the worker's connection "
            "was invalidated*The harness replaced the connection*",
        ]
    )
    # It left no task running: the advice about awaiting what a test starts is not its.
    assert "Await everything the test starts" not in result.stdout.str()


def test_settings_app_state_overrides_and_environment_are_restored(
    pytester: pytest.Pytester, on_this_engine: list[str], outer_isolation: str
) -> None:
    write_inner_tests(
        pytester,
        """
        import os


        def test_one_changes_everything(app):
            app.state.settings.access_token_minutes = 1
            app.state.added_by_a_test = "leaked"
            app.state.login_throttle = None
            os.environ["BACKEND_ACCESS_TOKEN_MINUTES"] = "2"
            os.environ["EXAMPLE_CHANGED"] = "by the test"
            del os.environ["EXAMPLE_REMOVED"]


        def test_two_sees_none_of_it(app):
            assert app.state.settings.access_token_minutes == 60
            assert not hasattr(app.state, "added_by_a_test")
            assert app.state.login_throttle is not None
            assert "BACKEND_ACCESS_TOKEN_MINUTES" not in os.environ
            assert os.environ["EXAMPLE_CHANGED"] == "before"
            assert os.environ["EXAMPLE_REMOVED"] == "before"
        """,
    )
    result = run_inner(
        pytester,
        *on_this_engine,
        *("--isolation", outer_isolation),
        EXAMPLE_CHANGED="before",
        EXAMPLE_REMOVED="before",
    )
    result.assert_outcomes(passed=2)


def test_the_harness_keeps_nothing_of_a_test_once_the_next_one_runs(
    pytester: pytest.Pytester, on_this_engine: list[str], outer_isolation: str
) -> None:
    # What isolated a test (its savepoints, the tasks running when it began and their results)
    # stayed on the test's item and in a reference cycle until the end of the run: a long
    # suite's memory grew with every test, and each asyncio.all_tasks() walked them all.
    write_inner_tests(
        pytester,
        """
        import gc
        import weakref

        KEPT = []


        async def test_one(db_isolation, client):
            gc.disable()  # until the next test has looked: only references keep objects alive
            assert (await client.get("/health")).status_code == 200
            KEPT.append(weakref.ref(db_isolation))


        async def test_two_finds_it_gone(client):
            try:
                # The app's dependency serves the last test's sessions until this request's.
                assert (await client.get("/health")).status_code == 200
                assert KEPT[0]() is None
            finally:
                gc.enable()
        """,
    )
    result = run_inner(pytester, *on_this_engine, "--isolation", outer_isolation)  # in file order
    result.assert_outcomes(passed=2)


def _developers_database(path: Path) -> bytes:
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE precious (note TEXT)")
        connection.execute("INSERT INTO precious VALUES ('the developer''s own data')")
    return path.read_bytes()


REACHES_FOR_THE_DEFAULT_DATABASE = """
from sqlalchemy import text

from backend.app import create_app
from backend.config import Settings
from backend.db import create_engine


async def test_builds_an_engine_from_default_settings():
    engine = create_engine(Settings().resolved_database_url)
    try:
        async with engine.begin() as connection:
            await connection.execute(text("CREATE TABLE leaked_by_test (x INTEGER)"))
    finally:
        await engine.dispose()


async def test_builds_its_own_app():
    app = create_app()
    async with app.router.lifespan_context(app):
        async with app.state.engine.begin() as connection:
            await connection.execute(text("DELETE FROM precious"))
"""


@pytest.mark.parametrize("how", ["BACKEND_DATABASE_URL", "BACKEND_DATA_DIR"])
def test_a_test_cannot_reach_the_developers_database(
    pytester: pytest.Pytester, tmp_path: Path, on_this_engine: list[str], how: str
) -> None:
    data_dir = tmp_path / "developers-data"
    data_dir.mkdir()
    database = data_dir / "backend.sqlite3"
    before = _developers_database(database)
    write_inner_tests(pytester, REACHES_FOR_THE_DEFAULT_DATABASE)
    # The developer's shell names the database, or leaves the default file in the data dir.
    setting = (
        {"BACKEND_DATABASE_URL": f"sqlite:///{database}"}
        if how == "BACKEND_DATABASE_URL"
        else {"BACKEND_DATA_DIR": str(data_dir)}
    )
    result = run_inner(pytester, *on_this_engine, **setting)
    result.assert_outcomes(failed=2)
    output = output_of(result)
    assert output.count("a test tried to connect to the app's configured database") >= 2
    assert "`app` or `client`" in output
    assert database.read_bytes() == before
    assert not Path(f"{database}-wal").exists()
