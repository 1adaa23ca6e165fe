"""The notes service's own tests, written as its developers would, with pytest-dbharness's fixtures."""

import asyncio
import uuid

import httpx
import pytest
from notes.models import Author, Note
from sqlalchemy import select

pytestmark = pytest.mark.asyncio


async def new_author(client: httpx.AsyncClient, name: str) -> dict:
    response = await client.post("/authors", json={"name": name})
    assert response.status_code == 201, response.text
    return response.json()


async def new_note(client: httpx.AsyncClient, author_id: int, title: str) -> dict:
    response = await client.post("/notes", json={"author_id": author_id, "title": title})
    assert response.status_code == 201, response.text
    return response.json()


async def note_count(client: httpx.AsyncClient) -> int:
    return (await client.get("/notes/count")).json()["count"]


async def test_a_note_round_trips_with_the_times_the_database_gave_it(client):
    author = await new_author(client, "ada")
    created = await new_note(client, author["id"], "first")
    listed = (await client.get("/notes")).json()
    assert [note["title"] for note in listed] == ["first"]
    assert uuid.UUID(created["id"]) and created["created_at"] and created["updated_at"]


@pytest.mark.parametrize("attempt", range(4))
async def test_every_test_starts_with_no_notes(client, attempt):
    # Each attempt commits a note; none may see another's, whatever the order or the worker.
    assert await note_count(client) == 0
    author = await new_author(client, f"writer {attempt}")
    await new_note(client, author["id"], f"note {attempt}")
    assert await note_count(client) == 1


async def test_requests_see_what_the_apps_lifespan_yielded(client):
    # As under a server: the harness ran the lifespan, and each request gets its state.
    assert (await client.get("/served-by")).json() == {"served_by": "notes"}


async def test_what_the_test_commits_is_what_requests_see(client, db_session):
    author = Author(name="grace")
    db_session.add(author)
    await db_session.commit()
    response = await client.get(f"/authors/{author.id}")
    assert response.json() == {"id": author.id, "name": "grace"}


async def test_what_a_request_commits_the_test_reads(client, db_session):
    await new_author(client, "linus")
    assert list(await db_session.scalars(select(Author.name))) == ["linus"]


async def test_a_refused_write_leaves_the_session_usable(client):
    await new_author(client, "twice")
    assert (await client.post("/authors", json={"name": "twice"})).status_code == 409
    await new_author(client, "after the refusal")


async def test_renaming_a_note_keeps_it(client, db_session):
    author = await new_author(client, "mary")
    note = await new_note(client, author["id"], "draft")
    renamed = await client.patch(f"/notes/{note['id']}", json={"title": "final"})
    assert renamed.status_code == 200
    assert renamed.json()["id"] == note["id"]
    stored = await db_session.get(Note, uuid.UUID(note["id"]))
    assert stored is not None and stored.title == "final"


async def test_deleting_a_note(client):
    author = await new_author(client, "edsger")
    note = await new_note(client, author["id"], "gone soon")
    assert (await client.delete(f"/notes/{note['id']}")).status_code == 204
    assert (await client.delete(f"/notes/{note['id']}")).status_code == 404


async def test_the_app_refuses_hosts_it_does_not_serve(client):
    # The harness's client passes the app's TrustedHostMiddleware; a stranger's host does not.
    assert (await client.get("/notes")).status_code == 200
    assert (await client.get("/notes", headers={"host": "evil.example"})).status_code == 400


@pytest.mark.committed
async def test_two_requests_at_once_both_commit(client):
    author = await new_author(client, "barbara")
    first, second = await asyncio.gather(
        new_note(client, author["id"], "one"), new_note(client, author["id"], "two")
    )
    assert first["id"] != second["id"]
    assert await note_count(client) == 2


@pytest.mark.committed
async def test_a_committed_test_also_starts_empty(client):
    assert await note_count(client) == 0
    author = await new_author(client, "ken")
    await new_note(client, author["id"], "kept until the test ends")


@pytest.mark.committed
async def test_a_request_writes_while_the_test_holds_what_it_read(client, db_session):
    # The test's session has read, and its transaction is still open, when requests write: in
    # production a read takes no lock a writer waits for, and with real commits neither here.
    author = Author(name="niklaus")
    db_session.add(author)
    await db_session.commit()
    assert await db_session.scalar(select(Author.name).where(Author.id == author.id)) == "niklaus"
    note = await new_note(client, author.id, "written while the test read")
    renamed = await client.patch(f"/notes/{note['id']}", json={"title": "and again"})
    assert renamed.status_code == 200, renamed.text


@pytest.mark.committed
async def test_a_background_job_on_the_apps_own_engine_writes_for_real(client):
    # The job opens a session on the app's own engine: its commit is real, so the test is
    # committed (rolled back, the harness refuses the write: it would stay for later tests).
    author = await new_author(client, "edsger")
    note = await new_note(client, author["id"], "original")
    response = await client.post(f"/notes/{note['id']}/copies")
    assert response.status_code == 202, response.text
    titles = [listed["title"] for listed in (await client.get("/notes")).json()]
    assert titles == ["copy of original", "original"]
