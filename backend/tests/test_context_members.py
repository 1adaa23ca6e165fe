"""Context members through HTTP: listing, adding, re-roling and removing them, and who may."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from backend.models import Visibility
from backend.tests.factories import make_context, make_user
from backend.tests.fixtures.clients import ClientFor
from backend.tests.fixtures.contexts import OWNER_ONLY_REFUSALS, Cast, CastFor

PRIVATE, PUBLIC = Visibility.PRIVATE, Visibility.PUBLIC


@pytest.fixture
def cast_for(module_cast_for: CastFor) -> CastFor:
    """This module's casts are built once for the module (``module_cast_for``): every test starts
    from the same contexts, members and users, whatever the test before it changed."""
    return module_cast_for


async def members(cast: Cast) -> dict[str, str]:
    """Username -> role, as the owner sees the member list."""
    response = await cast.clients["owner"].get(cast.members_path())
    assert response.status_code == 200, response.text
    return {member["username"]: member["role"] for member in response.json()}


@pytest.mark.parametrize(
    ("method", "suffix"),
    [("GET", ""), ("POST", ""), ("PATCH", "/{user}"), ("DELETE", "/{user}")],
)
async def test_anonymous_callers_get_401(
    client: httpx.AsyncClient, cast_for: CastFor, method: str, suffix: str
) -> None:
    cast = await cast_for(PUBLIC)
    member = cast.users["viewer"]
    path = cast.members_path() + suffix.format(user=member.id)
    body = {"user_id": member.id, "role": "editor"} if method in ("POST", "PATCH") else None
    response = await client.request(method, path, json=body)
    assert response.status_code == 401


async def test_members_are_listed_with_their_usernames_and_roles(cast_for: CastFor) -> None:
    cast = await cast_for(PRIVATE)
    response = await cast.clients["viewer"].get(cast.members_path())
    assert response.status_code == 200, response.text
    listed = response.json()
    assert [(m["user_id"], m["username"], m["role"]) for m in listed] == [
        (cast.users["editor"].id, cast.users["editor"].username, "editor"),
        (cast.users["viewer"].id, cast.users["viewer"].username, "viewer"),
    ]
    assert all(m["created_at"].endswith(("Z", "+00:00")) for m in listed)


@pytest.mark.parametrize(
    ("visibility", "actor", "status"),
    [
        (PRIVATE, "editor", 200),
        (PUBLIC, "stranger", 200),
        (PRIVATE, "stranger", 404),
    ],
)
async def test_who_can_list_members(
    cast_for: CastFor, visibility: Visibility, actor: str, status: int
) -> None:
    cast = await cast_for(visibility)
    response = await cast.clients[actor].get(cast.members_path())
    assert response.status_code == status, response.text


async def test_the_owner_adds_a_member_who_then_sees_the_context(
    db_session: AsyncSession, client_for: ClientFor, cast_for: CastFor
) -> None:
    cast = await cast_for(PRIVATE)
    newcomer = await make_user(db_session, username="newcomer")
    newcomer_client = await client_for(newcomer)
    assert (await newcomer_client.get(cast.path())).status_code == 404

    response = await cast.clients["owner"].post(
        cast.members_path(), json={"user_id": newcomer.id, "role": "editor"}
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["user_id"], body["username"], body["role"]) == (newcomer.id, "newcomer", "editor")
    assert datetime.fromisoformat(body["created_at"]).utcoffset() is not None
    seen = await newcomer_client.get(cast.path())
    assert seen.status_code == 200
    assert seen.json()["role_of_caller"] == "editor"
    shared = await newcomer_client.get("/contexts", params={"scope": "shared"})
    assert [item["id"] for item in shared.json()["items"]] == [cast.context.id]


async def test_a_new_member_is_a_viewer_unless_told_otherwise(
    db_session: AsyncSession, cast_for: CastFor
) -> None:
    cast = await cast_for(PRIVATE)
    newcomer = await make_user(db_session)
    response = await cast.clients["owner"].post(cast.members_path(), json={"user_id": newcomer.id})
    assert response.status_code == 201, response.text
    assert response.json()["role"] == "viewer"


@pytest.mark.parametrize(("visibility", "actor", "status"), OWNER_ONLY_REFUSALS)
@pytest.mark.parametrize("method", ["POST", "PATCH"])
async def test_only_the_owner_adds_members_or_changes_roles(
    cast_for: CastFor, visibility: Visibility, actor: str, status: int, method: str
) -> None:
    cast = await cast_for(visibility)
    viewer = cast.users["viewer"]
    if method == "POST":
        # The stranger tries to add someone: themself, the most tempting case.
        stranger = cast.users["stranger"]
        request = (cast.members_path(), {"user_id": stranger.id, "role": "editor"})
    else:
        request = (cast.members_path(viewer.id), {"role": "editor"})
    response = await cast.clients[actor].request(method, request[0], json=request[1])
    assert response.status_code == status, response.text
    assert await members(cast) == {
        cast.users["editor"].username: "editor",
        viewer.username: "viewer",
    }


@pytest.mark.parametrize(
    ("who", "status", "detail_mentions"),
    [("owner", 409, "owner"), ("viewer", 409, "already a member")],
)
async def test_adding_the_owner_or_an_existing_member_is_refused(
    cast_for: CastFor, who: str, status: int, detail_mentions: str
) -> None:
    cast = await cast_for(PRIVATE)
    before = await members(cast)
    body = {"user_id": cast.users[who].id, "role": "editor"}
    response = await cast.clients["owner"].post(cast.members_path(), json=body)
    assert response.status_code == status, response.text
    assert detail_mentions in response.json()["detail"]
    assert await members(cast) == before


async def test_adding_an_unknown_user_is_a_422(db_session: AsyncSession, cast_for: CastFor) -> None:
    cast = await cast_for(PRIVATE)
    gone = await make_user(db_session)
    gone_id = gone.id
    await db_session.delete(gone)
    await db_session.commit()
    response = await cast.clients["owner"].post(cast.members_path(), json={"user_id": gone_id})
    assert response.status_code == 422
    assert str(gone_id) in response.json()["detail"]


@pytest.mark.parametrize("kind", ["inactive", "superuser"])
async def test_hidden_accounts_answer_exactly_like_a_missing_id(
    db_session: AsyncSession, cast_for: CastFor, kind: str
) -> None:
    cast = await cast_for(PRIVATE)
    hidden = await make_user(
        db_session, is_active=kind != "inactive", is_superuser=kind == "superuser"
    )
    gone = await make_user(db_session)
    hidden_id, gone_id = hidden.id, gone.id
    await db_session.delete(gone)
    await db_session.commit()
    owner = cast.clients["owner"]

    async def add(user_id: int) -> tuple[int, str]:
        response = await owner.post(cast.members_path(), json={"user_id": user_id})
        # The same answer once the id is taken out: nothing but the id tells them apart.
        return response.status_code, response.text.replace(str(user_id), "<id>")

    assert await add(hidden_id) == await add(gone_id) == (422, '{"detail":"no user <id>"}')
    assert hidden.username not in await members(cast)


async def test_staff_may_add_any_account_they_can_list(
    db_session: AsyncSession, client_for: ClientFor
) -> None:
    staff = await make_user(db_session, is_staff=True)
    context = await make_context(db_session, owner=staff)
    dormant = await make_user(db_session, is_active=False)
    response = await (await client_for(staff)).post(
        f"/contexts/{context.id}/members", json={"user_id": dormant.id}
    )
    assert response.status_code == 201, response.text
    assert response.json()["username"] == dormant.username


@pytest.mark.parametrize(
    ("body", "bad_field"),
    [
        ({"role": "owner"}, "role"),
        ({"role": "admin"}, "role"),
        ({"user_id": "me"}, "user_id"),
        ({"user_id": 2**31}, "user_id"),
        # JSON Schema's integer: 1.0 is one, these are not (pydantic's lax mode took them).
        ({"user_id": 1.5}, "user_id"),
        ({"user_id": True}, "user_id"),
        ({"expires": "tomorrow"}, "expires"),
    ],
)
async def test_invalid_member_bodies_are_refused_with_422(
    cast_for: CastFor, body: dict[str, Any], bad_field: str
) -> None:
    cast = await cast_for(PRIVATE)
    body = {"user_id": cast.users["stranger"].id, **body}
    response = await cast.clients["owner"].post(cast.members_path(), json=body)
    assert response.status_code == 422
    assert {str(error["loc"][-1]) for error in response.json()["detail"]} == {bad_field}


async def test_the_owner_promotes_a_viewer_who_may_then_write(cast_for: CastFor) -> None:
    cast = await cast_for(PRIVATE)
    viewer = cast.clients["viewer"]
    entries = cast.entries_path()
    assert (await viewer.post(entries, json={"title": "Too early"})).status_code == 403

    response = await cast.clients["owner"].patch(
        cast.members_path(cast.users["viewer"].id), json={"role": "editor"}
    )
    assert response.status_code == 200, response.text
    assert (response.json()["username"], response.json()["role"]) == (
        cast.users["viewer"].username,
        "editor",
    )
    assert (await viewer.post(entries, json={"title": "Now allowed"})).status_code == 201


async def test_changing_the_role_of_a_non_member_is_a_404(cast_for: CastFor) -> None:
    cast = await cast_for(PRIVATE)
    path = cast.members_path(cast.users["stranger"].id)
    response = await cast.clients["owner"].patch(path, json={"role": "viewer"})
    assert response.status_code == 404


async def test_the_owner_removes_a_member_who_loses_access(cast_for: CastFor) -> None:
    cast = await cast_for(PRIVATE)
    response = await cast.clients["owner"].delete(cast.members_path(cast.users["editor"].id))
    assert response.status_code == 204
    assert await members(cast) == {cast.users["viewer"].username: "viewer"}
    lost = await cast.clients["editor"].get(cast.path())
    assert lost.status_code == 404


@pytest.mark.parametrize("actor", ["viewer", "editor"])
async def test_a_member_may_leave(cast_for: CastFor, actor: str) -> None:
    cast = await cast_for(PRIVATE)
    response = await cast.clients[actor].delete(cast.members_path(cast.users[actor].id))
    assert response.status_code == 204
    assert cast.users[actor].username not in await members(cast)


@pytest.mark.parametrize(
    ("visibility", "actor", "target", "status"),
    [
        (PRIVATE, "editor", "viewer", 403),
        (PRIVATE, "viewer", "editor", 403),
        (PUBLIC, "stranger", "viewer", 403),
        (PRIVATE, "stranger", "viewer", 404),
    ],
)
async def test_members_may_not_remove_each_other(
    cast_for: CastFor, visibility: Visibility, actor: str, target: str, status: int
) -> None:
    cast = await cast_for(visibility)
    response = await cast.clients[actor].delete(cast.members_path(cast.users[target].id))
    assert response.status_code == status, response.text
    assert cast.users[target].username in await members(cast)


async def test_removing_a_non_member_is_a_404(cast_for: CastFor) -> None:
    cast = await cast_for(PRIVATE)
    response = await cast.clients["owner"].delete(cast.members_path(cast.users["stranger"].id))
    assert response.status_code == 404
