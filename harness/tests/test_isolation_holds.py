"""What one test does never reaches the next, on the second project: writes around the test's
sessions (an engine of the app's own, the test's own COMMIT) are refused before they land, what
the app's lifespan writes at a server's start stays for the run, a request from
``fastapi.testclient.TestClient`` on asyncpg stops its test without breaking the next, and the
harness keeps nothing of a test once the next one runs."""

from __future__ import annotations

from pathlib import Path

import pytest
from runs import WROTE_AROUND, copy_of_sample, outcome, replace_in, run_added, run_pytest

ENGINES = ["sqlite", "postgres"]


ESCAPING_JOB = (
    "test_escaping_job.py",
    """
import pytest
from sqlalchemy import text
from test_notes import new_author, new_note, note_count

pytestmark = pytest.mark.asyncio


async def test_a_job_writes_on_the_apps_own_engine(client):
    author = await new_author(client, "edsger")
    note = await new_note(client, author["id"], "original")
    await client.post(f"/notes/{note['id']}/copies")


async def test_a_test_commits_the_shared_connection_itself(client, db_session):
    author = await new_author(client, "barbara")
    await new_note(client, author["id"], "kept, if the commit went through")
    await (await db_session.connection()).commit()


async def test_a_test_sends_its_own_commit(client, db_session):
    author = await new_author(client, "frances")
    await new_note(client, author["id"], "kept, if the COMMIT went through")
    await db_session.execute(text("COMMIT"))


async def test_the_next_test_finds_nothing_it_left(client):
    assert await note_count(client) == 0
""",
)


@pytest.mark.parametrize("engine", ENGINES)
def test_a_rolled_back_test_writing_around_its_sessions_is_stopped_and_leaks_nothing(
    tmp_path: Path, engine: str
) -> None:
    # The background job opens its own session on the engine the app keeps on app.state: its
    # commit would be real, and the row would stay for the next test. So would everything the
    # test wrote if it committed the shared connection itself.
    project = copy_of_sample(tmp_path)
    result = run_added(project, ESCAPING_JOB, engine)
    assert result.returncode == pytest.ExitCode.TESTS_FAILED, outcome(result)
    assert "3 failed, 1 passed" in result.stdout, outcome(result)
    assert WROTE_AROUND in result.stdout, outcome(result)
    assert "INSERT INTO notes" in result.stdout
    assert "(at test_escaping_job.py:12)" in result.stdout, outcome(result)
    # The test's own transaction, ended by the test: refused too, before it reached the database.
    assert "a rolled-back test committed the worker's connection itself" in result.stdout
    assert "a rolled-back test sent 'COMMIT' on the worker's shared connection" in result.stdout
    # Committed, the same test commits for real, and the clean-up empties what it wrote.
    only = "apps_own_engine or finds_nothing"  # the job's test, and the check after it
    committed = run_added(project, ESCAPING_JOB, engine, "--isolation", "commit", "-k", only)
    assert committed.returncode == 0, outcome(committed)


SEEDING_FIXTURE = (
    "test_seeding_fixture.py",
    """
import pytest
import pytest_asyncio
from notes.models import Author
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest_asyncio.fixture(loop_scope="session")
async def author_on_its_own_engine(db_engine):
    # A fixture seeding as many projects' do: a session of its own, committed.
    async with AsyncSession(db_engine) as session:
        session.add(Author(name="seeded by a fixture"))
        await session.commit()


async def test_seeded_before_the_isolation(author_on_its_own_engine, client):
    assert (await client.get("/served-by")).status_code == 200


async def test_seeded_after_the_isolation(client, author_on_its_own_engine):
    assert (await client.get("/served-by")).status_code == 200


async def test_the_next_test_finds_no_author(db_session):
    assert await db_session.scalar(select(func.count()).select_from(Author)) == 0
""",
)


@pytest.mark.parametrize("engine", ENGINES)
def test_a_fixture_seeding_on_an_engine_of_its_own_is_treated_alike_in_any_order(
    tmp_path: Path, engine: str
) -> None:
    # Rolled back, the fixture's commit would stay for every later test; whether the test's
    # isolation had begun when it ran depended on the order of the test's arguments. Refused in
    # both orders now. Committed, both pass, and the clean-up empties what the fixture wrote even
    # in the worker's first committed test (the write log is in place before any fixture runs).
    project = copy_of_sample(tmp_path)
    rolled_back = run_added(project, SEEDING_FIXTURE, engine)
    assert rolled_back.returncode == pytest.ExitCode.TESTS_FAILED, outcome(rolled_back)
    assert "1 passed, 2 errors" in rolled_back.stdout, outcome(rolled_back)
    assert WROTE_AROUND in rolled_back.stdout, outcome(rolled_back)
    for test in ("test_seeded_before_the_isolation", "test_seeded_after_the_isolation"):
        assert f"ERROR at setup of {test}" in rolled_back.stdout, outcome(rolled_back)
    committed = run_added(project, SEEDING_FIXTURE, engine, "--isolation", "commit")
    assert committed.returncode == 0, outcome(committed)
    assert "3 passed" in committed.stdout, outcome(committed)


WIDE_SEED = (
    "test_wide_seed.py",
    """
import pytest
import pytest_asyncio
from notes.models import Author
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def authors_for_the_module(db_engine):
    async with AsyncSession(db_engine) as session:
        session.add(Author(name="seeded for the module"))
        await session.commit()


async def test_uses_the_modules_authors(authors_for_the_module, db_session):
    pass


async def test_the_next_test_finds_no_author(db_session):
    assert await db_session.scalar(select(func.count()).select_from(Author)) == 0
""",
)


@pytest.mark.parametrize("engine", ENGINES)
def test_a_wider_scoped_fixture_seeding_on_an_engine_of_its_own_is_refused_in_both_isolations(
    tmp_path: Path, engine: str
) -> None:
    # Rolled back, the module's rows would stay for every later module; with real commits, the
    # first test that writes the table would empty them under the module's other tests.
    project = copy_of_sample(tmp_path)
    for isolation in ("rollback", "commit"):
        result = run_added(project, WIDE_SEED, engine, "--isolation", isolation)
        assert result.returncode == pytest.ExitCode.TESTS_FAILED, outcome(result)
        assert "1 passed, 1 error" in result.stdout, outcome(result)
        told = "the module-scoped fixture authors_for_the_module wrote to the worker's database"
        assert told in result.stdout, outcome(result)
        assert "module_db_session" in result.stdout


SEEDED_AT_STARTUP = """
import pytest
import pytest_asyncio
from notes.models import Author
from sqlalchemy import select

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def reader(module_db_session):
    module_db_session.add(Author(name="a module's reader"))
    await module_db_session.commit()


async def test_a_test_of_the_module_that_does_not_use_the_app(reader, db_session):
    # A later test of the module uses the app: it started before the module's data was built.
    names = await db_session.scalars(select(Author.name).order_by(Author.name))
    assert list(names) == ["a module's reader", "seeded at startup"]


async def test_what_the_lifespan_wrote_is_there(reader, client, db_session):
    names = await db_session.scalars(select(Author.name).order_by(Author.name))
    assert list(names) == ["a module's reader", "seeded at startup"]
    assert (await client.get("/served-by")).json() == {"served_by": "notes"}
"""


@pytest.mark.parametrize("engine", ENGINES)
def test_a_lifespan_writing_on_the_apps_own_engine_at_startup_is_let_through(
    tmp_path: Path, engine: str
) -> None:
    # A server's start, outside every test, and before a module's data when a test of the module
    # uses the app: what it writes stays for the run, as in production.
    project = copy_of_sample(tmp_path)
    replace_in(
        project / "notes/app.py",
        '        yield {"served_by": "notes"}\n',
        "        async with app.state.sessionmaker() as session:\n"
        '            session.add(Author(name="seeded at startup"))\n'
        "            await session.commit()\n"
        '        yield {"served_by": "notes"}\n',
    )
    (project / "tests/test_seeded.py").write_text(SEEDED_AT_STARTUP)
    result = run_pytest(project, "--db", engine, "tests/test_seeded.py")
    assert result.returncode == 0, outcome(result)


THROUGH_TESTCLIENT = (
    "test_through_testclient.py",
    """
import pytest
from fastapi.testclient import TestClient
from test_notes import note_count


def test_a_sync_test_through_fastapis_testclient(app):
    with TestClient(app, base_url="http://localhost") as client:
        assert client.post("/authors", json={"name": "from a thread"}).status_code == 201


@pytest.mark.asyncio
async def test_the_next_test_runs_on_a_usable_connection(client):
    assert await note_count(client) == 0
""",
)


@pytest.mark.parametrize("isolation", ["rollback", "commit"])
def test_testclient_on_asyncpg_stops_its_test_and_spares_the_next(
    tmp_path: Path, isolation: str
) -> None:
    # TestClient runs the app on a loop of its own; asyncpg's connections belong to the loop
    # that opened them. The request failed half-way ('attached to a different loop'), the
    # worker's connection was left unusable, and with commits the next test waited forever.
    result = run_added(
        copy_of_sample(tmp_path), THROUGH_TESTCLIENT, "postgres", "--isolation", isolation
    )
    assert result.returncode == pytest.ExitCode.TESTS_FAILED, outcome(result)
    assert "1 failed, 1 passed" in result.stdout, outcome(result)
    assert "a request reached the app on another event loop than the test's" in result.stdout
    assert "`client` fixture" in result.stdout, outcome(result)


def test_testclient_on_aiosqlite_uses_the_tests_isolation(tmp_path: Path) -> None:
    result = run_added(copy_of_sample(tmp_path), THROUGH_TESTCLIENT, "sqlite")
    assert result.returncode == 0, outcome(result)
    assert "2 passed" in result.stdout, outcome(result)


NOTHING_KEPT = (
    "test_nothing_kept.py",
    """
import gc
import weakref

import pytest
from test_notes import new_author, note_count

pytestmark = pytest.mark.asyncio

KEPT = []


async def test_one(db_isolation, client):
    gc.disable()  # until the next test has looked: only references keep objects alive
    await new_author(client, "kept nowhere")
    KEPT.append(weakref.ref(db_isolation))


async def test_two_finds_it_gone(client):
    try:
        assert await note_count(client) == 0  # the app's dependency now serves this test's
        assert KEPT[0]() is None
    finally:
        gc.enable()
""",
)


@pytest.mark.parametrize("engine", ENGINES)
def test_the_harness_keeps_nothing_of_a_test_once_the_next_one_runs(
    tmp_path: Path, engine: str
) -> None:
    # Each test's isolation stayed on its item and in a cycle with the tasks it noted at its
    # start, until the end of the run: memory and asyncio.all_tasks() grew with every test.
    for isolation in ("rollback", "commit"):
        result = run_added(copy_of_sample(tmp_path / isolation), NOTHING_KEPT, engine,
                           "--isolation", isolation)  # fmt: skip
        assert result.returncode == 0, outcome(result)
        assert "2 passed" in result.stdout, outcome(result)
