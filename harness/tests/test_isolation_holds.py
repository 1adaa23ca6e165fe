"""What one test does never reaches the next, on the second project: writes around the test's
sessions (an engine of the app's own, the test's own COMMIT) are refused before they land, and
what the app's lifespan writes at a server's start stays for the run."""

from __future__ import annotations

from pathlib import Path

import pytest
from runs import copy_of_sample, outcome, replace_in, run_pytest

ENGINES = ["sqlite", "postgres"]


ESCAPING_JOB = """
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
"""


@pytest.mark.parametrize("engine", ENGINES)
def test_a_rolled_back_test_writing_around_its_sessions_is_stopped_and_leaks_nothing(
    tmp_path: Path, engine: str
) -> None:
    # The background job opens its own session on the engine the app keeps on app.state: its
    # commit would be real, and the row would stay for the next test. So would everything the
    # test wrote if it committed the shared connection itself.
    project = copy_of_sample(tmp_path)
    (project / "tests/test_escaping_job.py").write_text(ESCAPING_JOB)
    result = run_pytest(project, "--db", engine, "tests/test_escaping_job.py")
    assert result.returncode == pytest.ExitCode.TESTS_FAILED, outcome(result)
    assert "3 failed, 1 passed" in result.stdout, outcome(result)
    told = "a rolled-back test wrote to the worker's database through an engine the harness"
    assert told in result.stdout, outcome(result)
    assert "INSERT INTO notes" in result.stdout
    assert "(at test_escaping_job.py:12)" in result.stdout, outcome(result)
    # The test's own transaction, ended by the test: refused too, before it reached the database.
    assert "a rolled-back test committed the worker's connection itself" in result.stdout
    assert "a rolled-back test sent 'COMMIT' on the worker's shared connection" in result.stdout
    # Committed, the same test commits for real, and the clean-up empties what it wrote.
    only = "apps_own_engine or finds_nothing"  # the job's test, and the check after it
    committed = run_pytest(
        project, "--db", engine, "--isolation", "commit", "tests/test_escaping_job.py", "-k", only
    )
    assert committed.returncode == 0, outcome(committed)


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
