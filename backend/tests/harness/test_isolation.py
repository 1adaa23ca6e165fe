"""Per-test isolation: what one test writes, even when the app commits, is gone in the next; and
within a test, sessions behave as on separate connections or the harness stops the test."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
from pytest_dbharness.backends import app_engine
from pytest_dbharness.fixtures import isolation, outside_writes
from pytest_dbharness.stops import BOARD
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from backend.models import Context, User
from backend.tests.factories import make_user
from backend.tests.harness.inner import run_inner, write_inner_tests

SHARED_USERNAME = "written-by-an-earlier-test"


async def user_count(session: AsyncSession) -> int:
    return int((await session.execute(select(func.count()).select_from(User))).scalar_one())


# Two identical tests: whichever runs second (random order included) fails if the first leaked.
@pytest.mark.parametrize("attempt", [1, 2])
async def test_a_row_committed_by_the_app_is_gone_in_the_next_test(
    attempt: int, db_session: AsyncSession, superuser_client: httpx.AsyncClient
) -> None:
    assert await user_count(db_session) == 1  # only the superuser this test asked for
    response = await superuser_client.post(
        "/admin/users",
        json={"username": SHARED_USERNAME, "email": "", "password": "long enough password"},
    )
    assert response.status_code == 201, response.text
    assert await user_count(db_session) == 2


async def test_the_apps_rollback_keeps_the_tests_own_rows(
    db_session: AsyncSession, client: httpx.AsyncClient
) -> None:
    survivor = await make_user(db_session, username="survivor")
    # A failed login rolls the request's session back; the test's committed rows stay.
    response = await client.post("/auth/token", data={"username": "nobody", "password": "x"})
    assert response.status_code == 401
    assert (await db_session.get(User, survivor.id)) is not None


async def test_each_request_gets_a_fresh_session(
    db_session: AsyncSession, user_client: httpx.AsyncClient, user: User
) -> None:
    first = await user_client.get("/auth/me")
    user.first_name = "Changed"
    await db_session.commit()
    second = await user_client.get("/auth/me")
    assert first.json()["first_name"] == ""
    assert second.json()["first_name"] == "Changed"


@pytest.mark.rollback_only(reason="checks the one-connection wrapper: commit mode has none")
async def test_the_app_serves_requests_from_the_tests_transaction(
    db_session: AsyncSession, db_engine: AsyncEngine, user_client: httpx.AsyncClient
) -> None:
    response = await user_client.post("/contexts", json={"name": "Inside the test"})
    assert response.status_code == 201, response.text
    # The test sees the app's commit; a connection outside the test's transaction does not,
    # so the rollback after the test removes it.
    assert await db_session.scalar(select(func.count()).select_from(Context)) == 1
    async with db_engine.connect() as outside:
        assert await outside.scalar(select(func.count()).select_from(Context)) == 0


@pytest.mark.committed
async def test_committed_tests_write_for_real(
    db_session: AsyncSession, db_engine: AsyncEngine
) -> None:
    await make_user(db_session, username="really-committed")
    async with db_engine.connect() as other_connection:
        seen = await other_connection.scalar(
            select(func.count()).select_from(User).where(User.username == "really-committed")
        )
    assert seen == 1


async def test_query_counter_counts_the_apps_queries(
    user_client: httpx.AsyncClient, count_queries: object
) -> None:
    with count_queries() as queries:  # type: ignore[operator]
        response = await user_client.get("/auth/me")
    assert response.status_code == 200
    assert 1 <= queries.count <= 2, str(queries)


async def context_count(sessionmaker: async_sessionmaker[AsyncSession]) -> int:
    async with sessionmaker() as fresh:
        return int(await fresh.scalar(select(func.count()).select_from(Context)) or 0)


@contextmanager
def stopped_by_the_harness(request: pytest.FixtureRequest) -> Iterator[list[str]]:
    """Expects the block to be stopped by the isolation tracker; yields its message afterwards."""
    message: list[str] = []
    carried: BaseException | None = None
    try:
        yield message
    except BaseException as error:  # whatever carried it up, the tracker's message is checked
        carried = error
    assert carried is not None, "the block ran to the end: the harness did not stop it"
    assert BOARD.stop is not None, f"not stopped by the harness but by {carried!r}"
    # Expected: the test goes on to check the message.
    message.append(BOARD.acknowledge())


# Point 1 of issue 12: a commit by the app survives the rollback of a session opened before it.
async def test_the_apps_commit_survives_a_rollback_of_the_tests_session(
    db_session: AsyncSession,
    db_sessionmaker: async_sessionmaker[AsyncSession],
    user_client: httpx.AsyncClient,
) -> None:
    await db_session.scalar(select(func.count()).select_from(User))  # the test's session is open
    response = await user_client.post("/contexts", json={"name": "Committed by the app"})
    assert response.status_code == 201, response.text
    await db_session.rollback()
    assert await context_count(db_sessionmaker) == 1


async def test_the_apps_commit_survives_a_rollback_of_another_open_session(
    db_sessionmaker: async_sessionmaker[AsyncSession], user_client: httpx.AsyncClient
) -> None:
    async with db_sessionmaker() as older:
        await older.scalar(select(func.count()).select_from(User))
        response = await user_client.post("/contexts", json={"name": "Committed by the app"})
        assert response.status_code == 201, response.text
        assert await older.scalar(select(func.count()).select_from(Context)) == 1
        await older.rollback()
    assert await context_count(db_sessionmaker) == 1


async def test_a_session_that_wrote_still_rolls_back_its_own_writes(
    db_sessionmaker: async_sessionmaker[AsyncSession], user: User
) -> None:
    async with db_sessionmaker() as session:
        session.add(Context(name="Never kept", slug="never-kept", owner_id=user.id))
        await session.flush()
        await session.rollback()
    assert await context_count(db_sessionmaker) == 0


# Point 2: sessions that overlap stop the test at once, with the pattern to use instead.
@pytest.mark.rollback_only(
    reason="a guard of the one connection; commit mode runs this as production"
)
async def test_overlapping_sessions_stop_the_test_with_what_to_do(
    request: pytest.FixtureRequest, db_sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    with stopped_by_the_harness(request) as message:
        async with db_sessionmaker() as first, db_sessionmaker() as second:
            await first.scalar(select(func.count()).select_from(User))
            await second.scalar(select(func.count()).select_from(User))
            await first.commit()
    assert "overlap" in message[0]
    assert "finish one session (commit or close it) before starting the next" in message[0]
    assert "@pytest.mark.committed" in message[0]
    assert "live_server" in message[0]


@pytest.mark.rollback_only(
    reason="a guard of the one connection; commit mode runs this as production"
)
async def test_a_write_while_a_later_session_is_open_stops_the_test(
    request: pytest.FixtureRequest, db_sessionmaker: async_sessionmaker[AsyncSession], user: User
) -> None:
    with stopped_by_the_harness(request) as message:
        async with db_sessionmaker() as first, db_sessionmaker() as second:
            await first.scalar(select(func.count()).select_from(User))
            await second.scalar(select(func.count()).select_from(User))
            first.add(Context(name="Late write", slug="late-write", owner_id=user.id))
            await first.flush()
    assert "wrote (Context(" in message[0]
    assert "live_server" in message[0]


# Point 3: a request never sees what the test has not committed.
@pytest.mark.rollback_only(
    reason="a guard of the one connection; commit mode runs this as production"
)
async def test_a_request_after_an_uncommitted_write_stops_the_test_naming_it(
    request: pytest.FixtureRequest,
    db_session: AsyncSession,
    user: User,
    user_client: httpx.AsyncClient,
) -> None:
    user.first_name = "Flushed, never committed"
    await db_session.flush()
    with stopped_by_the_harness(request) as message:
        await user_client.get("/auth/me")
    assert f"db_session (the test's own): User({user.id})" in message[0]
    assert "a request's session" in message[0]
    assert "await db_session.commit()" in message[0]


async def test_a_committed_write_is_what_the_next_request_sees(
    db_session: AsyncSession, user: User, user_client: httpx.AsyncClient
) -> None:
    user.first_name = "Committed"
    await db_session.commit()
    assert (await user_client.get("/auth/me")).json()["first_name"] == "Committed"


# Issue 13, point 6: concurrent requests in a rolled-back test stop at once with one message.
@pytest.mark.rollback_only(
    reason="a guard of the one connection; commit mode runs this as production"
)
async def test_concurrent_requests_in_a_rolled_back_test_stop_with_what_to_use(
    request: pytest.FixtureRequest, user_client: httpx.AsyncClient
) -> None:
    with stopped_by_the_harness(request) as message:
        # return_exceptions: every request has finished before the test ends (a plain gather
        # returns at the first failure and leaves the others running into the next test).
        outcomes = await asyncio.gather(
            *(user_client.post("/contexts", json={"name": f"At once {n}"}) for n in range(3)),
            return_exceptions=True,
        )
        raise next(o for o in outcomes if isinstance(o, BaseException))
    assert "@pytest.mark.committed" in message[0]
    assert "live_server" in message[0]


# A write that would escape the rollback: through an engine of its own on the worker's database.
@pytest.mark.rollback_only(reason="with real commits, every engine's writes are meant to be real")
async def test_a_write_through_an_engine_of_its_own_is_refused_and_leaves_nothing(
    request: pytest.FixtureRequest, database_url: str
) -> None:
    # What an app keeps on app.state for a background job: its own engine, so its commits are real.
    engine = app_engine(database_url)
    try:
        async with AsyncSession(engine) as own:
            assert await user_count(own) == 0  # reads are left alone
            with stopped_by_the_harness(request) as message:
                await make_user(own, username="escaped-the-rollback")
        assert "through an engine the harness does not isolate" in message[0]
        assert "INSERT INTO auth_user" in message[0]
        async with AsyncSession(engine) as again:
            assert await user_count(again) == 0
    finally:
        await engine.dispose()


@pytest.mark.rollback_only(reason="with real commits, the test's session may end its transaction")
@pytest.mark.parametrize("statement", ["COMMIT", "end", "ROLLBACK"])
async def test_a_statement_ending_the_tests_transaction_is_refused(
    request: pytest.FixtureRequest, db_session: AsyncSession, statement: str
) -> None:
    await make_user(db_session, username="kept-if-the-transaction-ended")
    with stopped_by_the_harness(request) as message:
        await db_session.execute(text(statement))
    assert "that would end the test's transaction" in message[0]
    kept_or_lost = "would be gone" if statement == "ROLLBACK" else "would stay for every later"
    assert kept_or_lost in message[0]
    assert await user_count(db_session) == 1  # the transaction is still the test's


@pytest.mark.parametrize(
    ("statement", "refused"),
    [
        ("INSERT INTO auth_user (username) VALUES ('a')", True),
        ("  update contexts SET name = 'b'", True),
        ("WITH gone AS (DELETE FROM contexts RETURNING id) SELECT count(*) FROM gone", True),
        ("CREATE TABLE scratch (id int)", True),
        ("SELECT id FROM contexts WHERE id = 1 FOR UPDATE", False),
        ("WITH recent AS (SELECT id FROM contexts) SELECT count(*) FROM recent", False),
        ("PRAGMA foreign_keys", False),
        ("SAVEPOINT sa_savepoint_1", False),
    ],
)
def test_what_counts_as_a_write_from_an_engine_of_its_own(statement: str, refused: bool) -> None:
    assert outside_writes.writes(statement) is refused


# Point 5: ids climb across tests on both engines, so a test cannot come to rely on them.
_ids_seen_in_this_process: list[int] = []


@pytest.mark.parametrize("attempt", [1, 2])
async def test_ids_are_not_handed_out_again_in_the_next_test(
    attempt: int, db_session: AsyncSession
) -> None:
    created = await make_user(db_session, username=f"id-probe-{attempt}")
    # Whichever attempt runs second in this process (random order included) sees a higher id.
    assert all(created.id > seen for seen in _ids_seen_in_this_process), (
        created.id,
        _ids_seen_in_this_process,
    )
    _ids_seen_in_this_process.append(created.id)


# Point 4 of issue 12, as issue 19 point 3 changed it: the transaction's clock stands still in a
# rolled-back test on PostgreSQL; the harness reports it at the end of the run (both engines
# alike), and stops the test only when the ini asks for that.
CLOCK_TESTS = """
import pytest
from sqlalchemy import func, select, text


@pytest.mark.parametrize("clock", [func.now(), func.current_timestamp(), func.current_date()])
async def test_reads_the_clock(db_session, clock):
    assert await db_session.scalar(select(clock)) is not None
    await db_session.commit()  # in production, the next read is another transaction's
    assert await db_session.scalar(select(clock)) is not None


async def test_reads_the_clock_twice_in_one_transaction(db_session):
    # One time in production too: nothing to say.
    assert await db_session.scalar(select(func.now())) is not None
    assert await db_session.scalar(select(func.now())) is not None


async def test_reads_no_clock(db_session):
    assert await db_session.scalar(select(1)) == 1
"""


def test_sql_reading_the_transaction_clock_is_reported_at_the_end_of_the_run(
    pytester: pytest.Pytester, on_this_engine: list[str]
) -> None:
    write_inner_tests(pytester, CLOCK_TESTS)
    result = run_inner(pytester, *on_this_engine)
    result.assert_outcomes(passed=5)
    result.stdout.fnmatch_lines(
        [
            "*transaction clock*",
            "3 rolled-back tests read the transaction's clock again after a commit*",
            "*test_reads_the_clock?clock0?: * (after a commit; first read by *",
            "*--isolation commit*harness_transaction_clock = stop*",
        ]
    )
    assert "test_reads_no_clock:" not in result.stdout.str()
    assert "test_reads_the_clock_twice_in_one_transaction:" not in result.stdout.str()


def test_the_ini_can_make_reading_the_transaction_clock_stop_the_test(
    pytester: pytest.Pytester, on_this_engine: list[str]
) -> None:
    write_inner_tests(pytester, CLOCK_TESTS)
    result = run_inner(pytester, *on_this_engine, "-o", "harness_transaction_clock=stop")
    result.assert_outcomes(passed=2, failed=3)
    result.stdout.fnmatch_lines(
        ["*a statement reads the transaction's clock: * in: SELECT* (after a commit; first read*"]
    )


MANY_CLOCK_READERS = """
import pytest
from sqlalchemy import func, select, text


@pytest.mark.parametrize("n", range(12))
async def test_reads_the_clock(db_session, n):
    assert await db_session.scalar(select(func.now())) is not None
    await db_session.commit()
    assert await db_session.scalar(select(func.now())) is not None
"""


def test_a_long_clock_report_names_ten_tests_and_the_ini_can_turn_it_off(
    pytester: pytest.Pytester, on_this_engine: list[str]
) -> None:
    write_inner_tests(pytester, MANY_CLOCK_READERS)
    result = run_inner(pytester, *on_this_engine)
    result.assert_outcomes(passed=12)
    result.stdout.fnmatch_lines(["12 rolled-back tests read the transaction's clock again*"])
    named = [line for line in result.stdout.lines if "::test_reads_the_clock[" in line]
    assert len(named) == 10, result.stdout.str()
    result.stdout.fnmatch_lines(["  … and 2 more (-v lists them all)"])
    listed = run_inner(pytester, *on_this_engine, "-vv")  # the inner run is -q
    assert len([line for line in listed.stdout.lines if "]: " in line]) == 12
    off = run_inner(pytester, *on_this_engine, "-o", "harness_transaction_clock=off")
    off.assert_outcomes(passed=12)
    assert "transaction clock" not in off.stdout.str()


def test_a_clock_read_in_commit_isolation_is_not_reported(
    pytester: pytest.Pytester, on_this_engine: list[str]
) -> None:
    write_inner_tests(pytester, CLOCK_TESTS)
    result = run_inner(pytester, *on_this_engine, "--isolation", "commit")
    result.assert_outcomes(passed=5)
    assert "transaction clock" not in result.stdout.str()


@pytest.mark.committed
async def test_a_committed_test_may_read_the_database_clock(db_session: AsyncSession) -> None:
    before = await db_session.scalar(select(func.current_timestamp()))
    assert before is not None


def test_requests_left_running_by_a_stopped_gather_end_with_their_test(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A plain gather returns at the first failure and leaves the other awaitables running; the
    # harness must end them with their test, or they would run into the next test's transaction.
    # The inner run is in this process: a shorter wait before cancelling (1 s) spares the test
    # waiting out the sleep it leaves running.
    monkeypatch.setattr(isolation, "STRAY_TASK_SECONDS", 0.1)
    write_inner_tests(
        pytester,
        """
        import asyncio

        left_running = []


        async def test_concurrent_work_that_fails_early(client):
            slow = asyncio.ensure_future(client.get("/health", params={"after": "a while"}))
            left_running.append(slow)
            left_running.append(asyncio.ensure_future(asyncio.sleep(30)))

            async def fails_at_once():
                raise RuntimeError("one request failed")

            await asyncio.gather(fails_at_once(), *left_running)


        async def test_the_next_test_finds_nothing_of_them_running(client):
            assert left_running and all(task.done() for task in left_running)
            assert (await client.get("/health")).status_code == 200
        """,
    )
    result = run_inner(pytester, "-p", "no:randomly")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*RuntimeError: one request failed*"])
