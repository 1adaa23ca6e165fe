"""Scoped data in inner runs whose order is fixed: what a class leaves behind, a second module, a
committed test among scoped ones, and the messages for what scoped data cannot do.

The runs that depend on the engine use the outer run's (``--db``), so both engines are covered.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from pytest_dbharness.harness import harness_of

from backend.tests.harness.inner import output_of, run_inner, write_inner_tests

HEADER = """
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from backend.models import User
from backend.tests.factories import make_user


async def usernames(session):
    return sorted((await session.scalars(select(User.username))).all())
"""
# The module's scoped data in most of the inner runs: one user, "world".
MODULE_WORLD = """

@pytest.fixture(scope="module")
async def world(module_db_session):
    return await make_user(module_db_session, username="world")
"""


@pytest.fixture
def run_on_this_engine(
    pytester: pytest.Pytester, pytestconfig: pytest.Config, on_this_engine: list[str]
) -> Callable[[], pytest.RunResult]:
    """An inner run in the order of its files, on the outer run's engine (and server)."""
    engine = harness_of(pytestconfig).options.engine

    def run() -> pytest.RunResult:
        result = run_inner(pytester, "-p", "no:randomly", *on_this_engine)
        result.stdout.fnmatch_lines([f"* tests ran on {engine};*"])
        return result

    return run


def test_a_class_stacks_on_its_module_and_is_gone_after_it_and_the_next_module_sees_neither(
    pytester: pytest.Pytester, run_on_this_engine: Callable[[], pytest.RunResult]
) -> None:
    write_inner_tests(
        pytester,
        HEADER
        + """
@pytest.fixture(scope="module")
async def module_user(module_db_session):
    return await make_user(module_db_session, username="module-user")


@pytest.fixture(scope="class")
async def class_user(class_db_session, module_user):
    return await make_user(class_db_session, username="class-user")


class TestOneClass:
    async def test_sees_both_and_deletes_them(self, class_user, module_user, db_session):
        assert await usernames(db_session) == ["class-user", "module-user"]
        await db_session.delete(class_user)
        await db_session.delete(module_user)
        await db_session.commit()

    async def test_sees_both_again(self, class_user, db_session):
        assert await usernames(db_session) == ["class-user", "module-user"]


async def test_after_the_class_only_the_modules(module_user, db_session):
    assert await usernames(db_session) == ["module-user"]
""",
        name="test_a",
    )
    write_inner_tests(
        pytester,
        HEADER
        + """
@pytest.fixture(scope="module")
async def own_user(module_db_session):
    return await make_user(module_db_session, username="second-module-user")


async def test_the_second_module_has_only_its_own(own_user, db_session):
    assert await usernames(db_session) == ["second-module-user"]
""",
        name="test_b",
    )
    result = run_on_this_engine()
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(["*3 scoped fixtures built for their module or class;*"])


def test_a_module_fixture_first_needed_inside_a_class_outlives_the_class(
    pytester: pytest.Pytester, run_on_this_engine: Callable[[], pytest.RunResult]
) -> None:
    # Built while the class's layer is open, it would be rolled back with the class: the class's
    # layer is torn down first, and built again on top of it.
    write_inner_tests(
        pytester,
        HEADER
        + """
@pytest.fixture(scope="module")
async def late(module_db_session):
    return await make_user(module_db_session, username="late")


@pytest.fixture(scope="class")
async def in_class(class_db_session):
    return await make_user(class_db_session, username="in-class")


class TestOneClass:
    async def test_first(self, in_class, db_session):
        assert await usernames(db_session) == ["in-class"]

    async def test_second_needs_the_module_fixture(self, in_class, late, db_session):
        assert await usernames(db_session) == ["in-class", "late"]


async def test_after_the_class(late, db_session):
    assert await usernames(db_session) == ["late"]
""",
    )
    run_on_this_engine().assert_outcomes(passed=3)


def test_a_committed_test_gets_the_scoped_data_rebuilt_on_real_commits(
    pytester: pytest.Pytester, run_on_this_engine: Callable[[], pytest.RunResult]
) -> None:
    write_inner_tests(
        pytester,
        HEADER
        + MODULE_WORLD
        + """

async def test_rolled_back_before(world, db_session):
    assert await usernames(db_session) == ["world"]
    await make_user(db_session, username="gone-after-this-test")


@pytest.mark.committed
async def test_committed(world, db_engine, db_session):
    async with db_engine.connect() as another_connection:
        assert (await another_connection.scalars(select(User.username))).all() == ["world"]


async def test_rolled_back_after(world, db_session):
    assert await usernames(db_session) == ["world"]


async def test_without_the_world(db_session):
    assert await usernames(db_session) == []
""",
    )
    result = run_on_this_engine()
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(
        [
            "*1 scoped fixtures built for their module or class; 1 built again after a test "
            "of their scope that did not ask for them (or that broke the connection); 1 rebuilt for 1 tests that have no outer "
            "transaction to return to*"
        ]
    )


@pytest.mark.parametrize(
    ("scope", "asks_for", "use"),
    [
        ("module", "db_session", "module_db_session"),
        ("class", "db_session", "class_db_session"),
        ("module", "client", "module_db_session"),
    ],
)
def test_a_scoped_fixture_that_asks_for_a_per_test_database_fixture_is_told_what_to_use(
    pytester: pytest.Pytester, scope: str, asks_for: str, use: str
) -> None:
    write_inner_tests(
        pytester,
        f"""
import pytest


@pytest.fixture(scope="{scope}")
async def world({asks_for}):
    return None


class TestIt:
    async def test_uses_it(self, world):
        pass


async def test_the_next_test_runs_as_usual(db_session):
    pass
""",
    )
    result = run_inner(pytester)
    result.assert_outcomes(errors=1, passed=1)
    result.stdout.fnmatch_lines(
        [
            f"*ScopeMismatch: the {scope}-scoped fixture 'world' (*test_inner.py:*) asks for "
            f"'{asks_for}', a database fixture made for each test. Build a {scope}'s data with "
            f"{use} instead*"
        ]
    )


def test_a_test_that_uses_the_scoped_session_is_told_to_use_db_session(
    pytester: pytest.Pytester,
) -> None:
    write_inner_tests(
        pytester,
        HEADER
        + MODULE_WORLD
        + """

async def test_uses_the_scoped_session(world, module_db_session):
    await module_db_session.scalar(select(func.count()).select_from(User))


async def test_the_next_test_is_unharmed(world, db_session):
    assert await usernames(db_session) == ["world"]
    assert await db_session.get(User, world.id) is world
""",
    )
    result = run_inner(pytester, "-p", "no:randomly")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        ["*a test used module_db_session, which builds the module's data*In a test use db_session*"]
    )


@pytest.mark.parametrize(
    ("body", "message", "options"),
    [
        (
            'await module_db_session.execute(text("SELECT CURRENT_TIMESTAMP"))\n'
            "    await module_db_session.commit()\n"
            '    await module_db_session.execute(text("SELECT CURRENT_TIMESTAMP"))',
            "*a statement reads the transaction's clock: CURRENT_TIMESTAMP in: SELECT CURRENT_TIMESTAMP (after a commit; first read by CURRENT_TIMESTAMP*",
            ("-o", "harness_transaction_clock=stop"),
        ),
        (
            'module_db_session.add(User(username="never-committed", password="!"))',
            "*module_db_session holds changes that no fixture committed (User)*",
            (),
        ),
    ],
    ids=["clock-stop", "uncommitted"],
)
def test_a_scoped_fixture_is_held_to_the_isolation_guards(
    pytester: pytest.Pytester, body: str, message: str, options: tuple[str, ...]
) -> None:
    write_inner_tests(
        pytester,
        HEADER
        + f"""
from backend.models import User


@pytest.fixture(scope="module")
async def world(module_db_session):
    {body}


async def test_uses_it(world, db_session):
    pass
""",
    )
    result = run_inner(pytester, *options)
    result.assert_outcomes(errors=1)
    assert message.strip("*") in output_of(result)


def test_a_scoped_fixture_reading_the_clock_is_reported_in_the_summary(
    pytester: pytest.Pytester,
) -> None:
    write_inner_tests(
        pytester,
        HEADER
        + """
@pytest.fixture(scope="module")
async def world(module_db_session):
    await module_db_session.execute(text("SELECT CURRENT_TIMESTAMP"))
    await module_db_session.commit()
    await module_db_session.execute(text("SELECT CURRENT_TIMESTAMP"))


async def test_uses_it(world, db_session):
    pass
""",
    )
    result = run_inner(pytester)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "*transaction clock*",
            "*test_inner.py::test_uses_it: module_db_session: CURRENT_TIMESTAMP*after a commit*",
        ]
    )


def test_a_test_that_breaks_the_connection_leaves_the_next_tests_their_scoped_data(
    pytester: pytest.Pytester, run_on_this_engine: Callable[[], pytest.RunResult]
) -> None:
    # The replaced connection takes the module's layer with it: the next test gets it built again.
    write_inner_tests(
        pytester,
        HEADER
        + MODULE_WORLD
        + """

async def test_1_breaks_the_connection(world, db_session):
    connection = await db_session.connection()
    await connection.invalidate()


@pytest.mark.parametrize("n", range(3))
async def test_2_still_has_the_world(world, db_session, client, n):
    await make_user(db_session, username=f"ordinary-{n}")
    assert (await client.get("/health")).status_code == 200
    assert await usernames(db_session) == [f"ordinary-{n}", "world"]
""",
    )
    result = run_on_this_engine()
    result.assert_outcomes(passed=4, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_1_breaks_the_connection*",
            "*The harness replaced the connection*",
            "*1 scoped fixtures built for their module or class; 1 built again after a test of "
            "their scope that did not ask for them (or that broke the connection);*",
        ]
    )
