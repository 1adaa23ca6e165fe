"""A task a test leaves running ends with that test, on the second project: the job an endpoint
starts and does not await, the requests a stopped ``asyncio.gather`` leaves behind, a task still
running a second after its test (cancelled, with a warning), and the same for ``live_server``'s
calls (its ``BackgroundTasks`` run after the response)."""

from __future__ import annotations

from pathlib import Path

import pytest
from runs import WROTE_AROUND, copy_of_sample, outcome, replace_in, run_added

ENGINES = ["sqlite", "postgres"]


LEFT_RUNNING = (
    "test_left_running.py",
    """
import asyncio

import pytest
from test_notes import new_author, note_count

pytestmark = pytest.mark.asyncio


async def test_a_request_leaves_a_job_running(client):
    author = await new_author(client, "leaves a job behind")
    assert (await client.post(f"/authors/{author['id']}/copy-later")).status_code == 202


async def test_the_next_test_sees_nothing_of_it(client):
    await asyncio.sleep(0.3)  # past the moment the job writes
    assert await note_count(client) == 0
""",
)

# An endpoint that starts a task and returns without awaiting it: the job writes 0.1 s later.
FIRE_AND_FORGET = """
    @app.post("/authors/{author_id}/copy-later", status_code=202)
    async def copy_later(author_id: int) -> dict[str, str]:
        async def job() -> None:
            await asyncio.sleep(0.1)
            await write_copy(app, author_id, "written later", "")

        app.state.jobs = getattr(app.state, "jobs", set()) | {asyncio.create_task(job())}
        return {"queued": "a copy"}

    @app.get("/served-by")"""


@pytest.mark.parametrize("engine", ENGINES)
def test_a_task_a_test_leaves_running_ends_with_that_test(tmp_path: Path, engine: str) -> None:
    # The next test used to be the one running the job: rolled back, its write was refused in
    # the wrong test (and reported nowhere); committed, it landed in the next test's data.
    project = copy_of_sample(tmp_path)
    replace_in(project / "notes/app.py", '\n    @app.get("/served-by")', FIRE_AND_FORGET)
    replace_in(project / "notes/app.py", "import uuid\n", "import asyncio\nimport uuid\n")
    rolled_back = run_added(project, LEFT_RUNNING, engine)
    assert rolled_back.returncode == pytest.ExitCode.TESTS_FAILED, outcome(rolled_back)
    assert "2 passed, 1 error" in rolled_back.stdout, outcome(rolled_back)
    assert "ERROR at teardown of test_a_request_leaves_a_job_running" in rolled_back.stdout
    assert WROTE_AROUND in rolled_back.stdout, outcome(rolled_back)
    committed = run_added(project, LEFT_RUNNING, engine, "--isolation", "commit")
    assert committed.returncode == 0, outcome(committed)


GATHERED = (
    "test_gathered.py",
    """
import asyncio

import pytest

pytestmark = pytest.mark.asyncio


async def test_requests_sent_at_once(client):
    await asyncio.gather(*(client.post("/authors", json={"name": f"at once {n}"}) for n in range(3)))
""",
)


@pytest.mark.parametrize("engine", ENGINES)
def test_a_stopped_gather_says_so_once_without_sqlalchemys_warnings(
    tmp_path: Path, engine: str
) -> None:
    # The requests the failed gather left behind commit savepoints the harness has moved in the
    # chain: on PostgreSQL each one made SQLAlchemy warn (sys:1: SAWarning: nested transaction
    # already deassociated from connection) under a stop that already says what to do.
    result = run_added(copy_of_sample(tmp_path), GATHERED, engine)
    assert result.returncode == pytest.ExitCode.TESTS_FAILED, outcome(result)
    assert "requests were in flight at once in a rolled-back test" in result.stdout
    assert "SAWarning" not in result.stdout, outcome(result)


SLOW_JOB = (
    "test_slow_job.py",
    """
import asyncio

import pytest

pytestmark = pytest.mark.asyncio


async def test_leaves_a_slow_job(client):
    asyncio.get_running_loop().create_task(asyncio.sleep(30), name="slow")
""",
)


def test_a_task_still_running_a_second_after_its_test_is_cancelled_with_a_warning(
    tmp_path: Path,
) -> None:
    result = run_added(copy_of_sample(tmp_path), SLOW_JOB, "sqlite")
    assert result.returncode == 0, outcome(result)
    assert "the test left 1 task(s) running, still unfinished 1 s after its end" in result.stdout
    assert "cancelled, so what they had left to do never happened" in result.stdout


LIVE_JOB = (
    "test_live_job.py",
    """
import asyncio

import httpx
import pytest
from notes.models import Note
from sqlalchemy import func, select


def test_a_live_request_leaves_its_background_job(live_server):
    with httpx.Client(base_url=live_server.url, headers={"host": "localhost"}) as client:
        author = client.post("/authors", json={"name": "in the background"}).json()
        note = client.post("/notes", json={"author_id": author["id"], "title": "original"}).json()
        assert client.post(f"/notes/{note['id']}/copies").status_code == 202


@pytest.mark.asyncio
async def test_the_next_test_sees_nothing_of_it(db_session):
    await asyncio.sleep(JOB_SECONDS + 0.3)  # past the moment the job writes
    assert await db_session.scalar(select(func.count()).select_from(Note)) == 0
""",
)


def live_job_taking(tmp_path: Path, seconds: float) -> tuple[Path, tuple[str, str]]:
    """The copy whose background job (``BackgroundTasks``) waits ``seconds`` before it writes."""
    project = copy_of_sample(tmp_path)
    replace_in(
        project / "notes/app.py",
        "    async with app.state.sessionmaker() as session:\n        session.add(Note(",
        f"    await asyncio.sleep({seconds})\n"
        "    async with app.state.sessionmaker() as session:\n        session.add(Note(",
    )
    replace_in(project / "notes/app.py", "import uuid\n", "import asyncio\nimport uuid\n")
    name, source = LIVE_JOB
    return project, (name, f"JOB_SECONDS = {seconds}\n{source}")


@pytest.mark.parametrize("engine", ENGINES)
def test_a_live_servers_background_job_ends_with_its_test(tmp_path: Path, engine: str) -> None:
    # The server answers before the job runs, and the clean-up came right after the test: the
    # job's note landed in the next test (or, rolled back, its write was refused there).
    project, module = live_job_taking(tmp_path, 0.3)
    result = run_added(project, module, engine)
    assert result.returncode == 0, outcome(result)
    assert "2 passed" in result.stdout, outcome(result)
    assert "cancelled" not in result.stdout, outcome(result)


def test_a_live_servers_call_still_running_a_second_after_its_test_is_cancelled_with_a_warning(
    tmp_path: Path,
) -> None:
    project, module = live_job_taking(tmp_path, 5)
    result = run_added(project, module, "sqlite")
    assert result.returncode == 0, outcome(result)
    assert "live_server was still running 1 call(s) 1 s after the test ended" in result.stdout
    assert "cancelled, so what they had left to do never happened" in result.stdout
