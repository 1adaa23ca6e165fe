"""Issue 19, points 4 to 6: what the test's session sees after a request, where a stopped test
points, markers checked at collection, and the isolation's one touch of SQLAlchemy's internals."""

from __future__ import annotations

import warnings

import httpx
import pytest
from pytest_dbharness.fixtures import isolation
from pytest_dbharness.fixtures.rolled_back import make_innermost
from sqlalchemy import event, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import Session

from backend.models import User
from backend.tests.harness.inner import output_of, run_inner, write_inner_tests


# Point 4: a request's commit is what the test's own session's next query returns.
async def test_the_tests_session_sees_what_a_request_committed_on_its_next_query(
    db_session: AsyncSession, user: User, superuser_client: httpx.AsyncClient
) -> None:
    assert user.is_staff is False  # held by db_session (expire_on_commit=False)
    response = await superuser_client.post(f"/admin/users/{user.id}/grant-staff")
    assert response.status_code == 200, response.text
    again = await db_session.scalar(select(User).where(User.id == user.id))
    assert again is user  # the same object, reloaded
    assert again.is_staff is True


async def test_get_returns_the_object_the_session_holds_until_it_is_refreshed(
    db_session: AsyncSession, user: User, superuser_client: httpx.AsyncClient
) -> None:
    # What the docs say: get() of an object already held returns it without a query.
    response = await superuser_client.post(f"/admin/users/{user.id}/grant-staff")
    assert response.status_code == 200, response.text
    held = await db_session.get(User, user.id)
    assert held is user
    await db_session.refresh(user)
    assert user.is_staff is True


# Point 5: a stopped test points at its own line, whichever request caused it.
def test_a_stopped_test_points_at_the_line_that_caused_it(
    pytester: pytest.Pytester, on_this_engine: list[str]
) -> None:
    write_inner_tests(
        pytester,
        """
        from backend.tests.factories import make_user


        async def test_several_requests(db_session, client):
            user = await make_user(db_session)
            assert (await client.get("/health")).status_code == 200
            user.first_name = "Changed but not committed"
            await db_session.flush()
            assert (await client.get("/health")).status_code == 200  # the guilty request
            assert (await client.get("/health")).status_code == 200
        """,
    )
    result = run_inner(pytester, *on_this_engine, "--isolation", "rollback", "--tb=long")
    result.assert_outcomes(failed=1)
    output = output_of(result)
    result.stdout.fnmatch_lines(
        [
            '>*assert (await client.get("/health")).status_code == 200  # the guilty request',
            "E*HarnessStop: a new session (a request's session) began while another session "
            "holds writes it has not committed*(at test_inner.py:9)",
            "test_inner.py:9: HarnessStop",
        ]
    )
    failure = output.split("FAILURES")[1].split("warnings summary")[0]
    assert "harness/src/pytest_dbharness/" not in failure
    assert "site-packages" not in failure


def test_an_add_without_flush_before_a_request_stops_the_test_naming_it(
    pytester: pytest.Pytester, on_this_engine: list[str]
) -> None:
    write_inner_tests(
        pytester,
        """
        from backend.models import Context
        from backend.tests.factories import make_user


        async def test_adds_and_forgets_to_commit(db_session, client):
            owner = await make_user(db_session)
            db_session.add(Context(name="Never flushed", slug="never-flushed", owner_id=owner.id))
            await client.get("/health")
        """,
    )
    result = run_inner(pytester, *on_this_engine, "--isolation", "rollback")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*a new session (a request's session) began while another session holds changes it "
            "has neither flushed nor committed (db_session (the test's own): Context(new))*"
            "await db_session.commit()*(at test_inner.py:8)*"
        ]
    )


@pytest.mark.parametrize("marker", ["postgres_only", "sqlite_only", "rollback_only"])
def test_a_marker_without_a_reason_stops_the_run_at_collection(
    pytester: pytest.Pytester, marker: str
) -> None:
    write_inner_tests(
        pytester,
        f"""
        import pytest

        def test_runs_first():
            pass

        @pytest.mark.{marker}
        def test_locks():
            pass
        """,
    )
    result = run_inner(pytester)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    output = output_of(result)
    assert f"test_inner.py::test_locks: @pytest.mark.{marker} needs a reason" in output
    assert "passed" not in output  # nothing ran
    assert "plugin.py" not in output and "Traceback" not in output  # one message, no source


# Point 6: listeners on the harness's own session class and connection, not global classes.
def test_the_isolation_listens_on_its_own_session_class_only() -> None:
    listeners = {
        "after_begin": isolation._after_begin,
        "after_flush": isolation._after_flush,
        "do_orm_execute": isolation._on_execute,
        "after_commit": isolation._after_commit,
        "after_transaction_end": isolation._after_transaction_end,
    }
    for name, listener in listeners.items():
        assert event.contains(isolation.TestSession, name, listener)
        assert not event.contains(Session, name, listener)


@pytest.mark.rollback_only(reason="reorders savepoints of one connection; commit mode has none")
async def test_make_innermost_still_reorders_sqlalchemys_savepoints(db_engine: AsyncEngine) -> None:
    """Fails when SQLAlchemy renames or reworks the private state make_innermost rewrites."""
    async with db_engine.connect() as connection:
        sync = connection.sync_connection
        assert sync is not None
        await connection.begin()
        older = await connection.begin_nested()
        younger = await connection.begin_nested()
        assert sync.get_nested_transaction() is younger.sync_transaction
        make_innermost(sync, older.sync_transaction)
        assert sync.get_nested_transaction() is older.sync_transaction
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no "nested transaction already deassociated"
            await connection.rollback()  # unwinds the reordered chain, innermost first
        assert sync.get_nested_transaction() is None
        assert not older.is_active and not younger.is_active
        assert (await connection.execute(text("SELECT 1"))).scalar() == 1
        await connection.rollback()
