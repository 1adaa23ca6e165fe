"""Context entries through HTTP: reading them, writing them, and who may do which."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from backend.models import ContextEntry, Visibility
from backend.tests.factories import make_context, make_entry
from backend.tests.fixtures.contexts import Cast, CastFor

PRIVATE, PUBLIC = Visibility.PRIVATE, Visibility.PUBLIC


CastWithEntry = Callable[[Visibility], Awaitable[tuple[Cast, ContextEntry]]]


@pytest.fixture
def cast_for(module_cast_for: CastFor) -> CastFor:
    """This module's casts are built once for the module (``module_cast_for``): every test starts
    from the same contexts, members and users, whatever the test before it changed."""
    return module_cast_for


@pytest.fixture
def cast_with_entry(db_session: AsyncSession, cast_for: CastFor) -> CastWithEntry:
    """The shared ``cast_for``, plus one entry ("The first entry") written by the owner."""

    async def make(visibility: Visibility) -> tuple[Cast, ContextEntry]:
        cast = await cast_for(visibility)
        entry = await make_entry(db_session, context=cast.context, title="The first entry")
        return cast, entry

    return make


async def titles(cast: Cast) -> list[str]:
    """The entry titles as the owner sees them, newest first."""
    response = await cast.clients["owner"].get(cast.entries_path(), params={"page_size": 100})
    assert response.status_code == 200, response.text
    return [entry["title"] for entry in response.json()["items"]]


@pytest.mark.parametrize(
    ("method", "suffix"),
    [("GET", ""), ("POST", ""), ("PATCH", "/{entry}"), ("DELETE", "/{entry}")],
)
async def test_anonymous_callers_get_401(
    client: httpx.AsyncClient, cast_with_entry: CastWithEntry, method: str, suffix: str
) -> None:
    cast, entry = await cast_with_entry(PUBLIC)
    path = cast.entries_path() + suffix.format(entry=entry.id)
    body = {"title": "Anonymous"} if method in ("POST", "PATCH") else None
    response = await client.request(method, path, json=body)
    assert response.status_code == 401


@pytest.mark.parametrize(
    ("visibility", "actor", "status"),
    [
        (PRIVATE, "owner", 200),
        (PRIVATE, "editor", 200),
        (PRIVATE, "viewer", 200),
        (PUBLIC, "stranger", 200),
        (PRIVATE, "stranger", 404),
    ],
)
async def test_who_can_read_entries(
    cast_with_entry: CastWithEntry, visibility: Visibility, actor: str, status: int
) -> None:
    cast, _ = await cast_with_entry(visibility)
    response = await cast.clients[actor].get(cast.entries_path())
    assert response.status_code == status, response.text
    if status == 200:
        assert [entry["title"] for entry in response.json()["items"]] == ["The first entry"]


@pytest.mark.parametrize("actor", ["owner", "editor"])
async def test_owners_and_editors_write_entries_they_author(
    cast_with_entry: CastWithEntry, actor: str
) -> None:
    cast, _ = await cast_with_entry(PRIVATE)
    response = await cast.clients[actor].post(
        cast.entries_path(), json={"title": "  Findings  ", "body": "Ünïcode body\n🙂"}
    )
    assert response.status_code == 201, response.text
    entry = response.json()
    assert entry["context_id"] == cast.context.id
    assert entry["author_id"] == cast.users[actor].id
    assert (entry["title"], entry["body"]) == ("Findings", "Ünïcode body\n🙂")
    for field in ("created_at", "updated_at"):
        assert entry[field].endswith(("Z", "+00:00")), entry[field]
    assert await titles(cast) == ["Findings", "The first entry"]


@pytest.mark.parametrize(
    ("visibility", "actor", "status"),
    [(PRIVATE, "viewer", 403), (PUBLIC, "stranger", 403), (PRIVATE, "stranger", 404)],
)
async def test_viewers_and_strangers_may_not_write_entries(
    cast_with_entry: CastWithEntry, visibility: Visibility, actor: str, status: int
) -> None:
    cast, entry = await cast_with_entry(visibility)
    client = cast.clients[actor]
    entry_path = cast.entries_path(entry.id)
    attempts = [
        await client.post(cast.entries_path(), json={"title": "Sneaked in"}),
        await client.patch(entry_path, json={"title": "Defaced"}),
        await client.delete(entry_path),
    ]
    assert [response.status_code for response in attempts] == [status] * 3
    assert await titles(cast) == ["The first entry"]


@pytest.mark.parametrize("actor", ["owner", "editor"])
async def test_owners_and_editors_change_entries(
    cast_with_entry: CastWithEntry, actor: str
) -> None:
    cast, entry = await cast_with_entry(PRIVATE)
    before = (await cast.clients["owner"].get(cast.entries_path())).json()["items"][0]
    response = await cast.clients[actor].patch(
        cast.entries_path(entry.id), json={"body": "Rewritten"}
    )
    assert response.status_code == 200, response.text
    after = response.json()
    assert (after["title"], after["body"]) == ("The first entry", "Rewritten")
    assert after["author_id"] == cast.users["owner"].id
    assert after["created_at"] == before["created_at"]
    assert datetime.fromisoformat(after["updated_at"]) > datetime.fromisoformat(
        before["updated_at"]
    )


@pytest.mark.parametrize("actor", ["owner", "editor"])
async def test_owners_and_editors_delete_entries(
    cast_with_entry: CastWithEntry, actor: str
) -> None:
    cast, entry = await cast_with_entry(PRIVATE)
    response = await cast.clients[actor].delete(cast.entries_path(entry.id))
    assert response.status_code == 204
    assert await titles(cast) == []
    again = await cast.clients[actor].delete(cast.entries_path(entry.id))
    assert again.status_code == 404


@pytest.mark.parametrize("method", ["PATCH", "DELETE"])
async def test_an_entry_is_only_reachable_through_its_own_context(
    db_session: AsyncSession, cast_with_entry: CastWithEntry, method: str
) -> None:
    cast, entry = await cast_with_entry(PRIVATE)
    elsewhere = await make_context(db_session, owner=cast.users["owner"])
    wrong_path = f"/contexts/{elsewhere.id}/entries/{entry.id}"
    body = {"title": "Moved?"} if method == "PATCH" else None
    response = await cast.clients["owner"].request(method, wrong_path, json=body)
    assert response.status_code == 404
    assert await titles(cast) == ["The first entry"]


async def test_entries_page_newest_first_with_a_total(cast_with_entry: CastWithEntry) -> None:
    cast, _ = await cast_with_entry(PUBLIC)
    for number in range(4):
        await cast.clients["owner"].post(cast.entries_path(), json={"title": f"Entry {number}"})
    stranger = cast.clients["stranger"]
    pages = []
    for page in (1, 2, 3):
        response = await stranger.get(cast.entries_path(), params={"page": page, "page_size": 2})
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["total"], body["page"], body["page_size"]) == (5, page, 2)
        pages.append([entry["title"] for entry in body["items"]])
    assert pages == [["Entry 3", "Entry 2"], ["Entry 1", "Entry 0"], ["The first entry"]]


@pytest.mark.parametrize(
    ("params", "bad_field"), [({"page": 0}, "page"), ({"page_size": 1000}, "page_size")]
)
async def test_invalid_page_parameters_are_refused_with_422(
    cast_with_entry: CastWithEntry, params: dict[str, Any], bad_field: str
) -> None:
    cast, _ = await cast_with_entry(PRIVATE)
    response = await cast.clients["owner"].get(cast.entries_path(), params=params)
    assert response.status_code == 422
    assert {str(error["loc"][-1]) for error in response.json()["detail"]} == {bad_field}


@pytest.mark.parametrize(
    ("method", "fields", "bad_field"),
    [
        ("POST", {"title": ""}, "title"),
        ("POST", {"title": "   "}, "title"),
        ("POST", {"title": "x" * 201}, "title"),
        ("POST", {"title": "ok", "body": "x" * 100_001}, "body"),
        ("POST", {"title": "ok", "body": "nul\x00byte"}, "body"),
        ("POST", {"title": "ok", "author_id": 1}, "author_id"),
        ("PATCH", {"title": None}, "title"),
        ("PATCH", {"title": "nul\x00byte"}, "title"),
        ("PATCH", {"context_id": 1}, "context_id"),
    ],
)
async def test_invalid_entries_are_refused_with_422(
    cast_with_entry: CastWithEntry, method: str, fields: dict[str, Any], bad_field: str
) -> None:
    cast, entry = await cast_with_entry(PRIVATE)
    path = cast.entries_path() if method == "POST" else cast.entries_path(entry.id)
    response = await cast.clients["owner"].request(method, path, json=fields)
    assert response.status_code == 422
    assert {str(error["loc"][-1]) for error in response.json()["detail"]} == {bad_field}
    assert await titles(cast) == ["The first entry"]


async def test_a_missing_entry_is_a_404(cast_with_entry: CastWithEntry) -> None:
    cast, entry = await cast_with_entry(PRIVATE)
    await cast.clients["owner"].delete(cast.entries_path(entry.id))
    response = await cast.clients["owner"].patch(
        cast.entries_path(entry.id), json={"title": "Back from the dead"}
    )
    assert response.status_code == 404
    assert "detail" in response.json()
