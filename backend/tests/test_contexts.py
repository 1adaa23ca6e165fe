"""Contexts through HTTP: creating, reading, listing, changing and deleting them, and who may."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.models import ContextEntry, ContextMember, Role, User, Visibility
from backend.tests.factories import make_context, make_entry, make_member, make_user
from backend.tests.fixtures.clients import ClientFor
from backend.tests.fixtures.contexts import OWNER_ONLY_REFUSALS, CastFor

PRIVATE, SHARED, PUBLIC = Visibility.PRIVATE, Visibility.SHARED, Visibility.PUBLIC


def nested(depth: int) -> dict[str, Any]:
    """A JSON object ``depth`` objects deep: nested(1) is {}."""
    document: dict[str, Any] = {}
    for _ in range(depth - 1):
        document = {"child": document}
    return document


async def create(client: httpx.AsyncClient, **fields: Any) -> httpx.Response:
    fields.setdefault("name", "Research notes")
    return await client.post("/contexts", json=fields)


async def names_listed(client: httpx.AsyncClient, **params: Any) -> set[str]:
    response = await client.get("/contexts", params={"page_size": 100, **params})
    assert response.status_code == 200, response.text
    return {item["name"] for item in response.json()["items"]}


def error_fields(response: httpx.Response) -> set[str]:
    """The request fields a 422 names, e.g. {"name"} for ("body", "name")."""
    assert response.status_code == 422, response.text
    return {str(error["loc"][-1]) for error in response.json()["detail"]}


# --- who may call what --------------------------------------------------------------------------


class TestWhoMayCallWhat:
    """One context of each visibility and its cast, built once for the class."""

    @pytest.fixture
    def cast_for(self, class_cast_for: CastFor) -> CastFor:
        return class_cast_for

    @pytest.mark.parametrize(
        ("method", "path"),
        [
            ("GET", "/contexts"),
            ("POST", "/contexts"),
            ("GET", "/contexts/{id}"),
            ("PATCH", "/contexts/{id}"),
            ("DELETE", "/contexts/{id}"),
        ],
    )
    async def test_anonymous_callers_get_401(
        self, client: httpx.AsyncClient, cast_for: CastFor, method: str, path: str
    ) -> None:
        context = (await cast_for(PUBLIC)).context
        body = {"name": "Renamed"} if method in ("POST", "PATCH") else None
        response = await client.request(method, path.format(id=context.id), json=body)
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == "Bearer"
        assert "detail" in response.json()

    @pytest.mark.parametrize(
        ("visibility", "actor", "status", "role"),
        [
            (PRIVATE, "owner", 200, "owner"),
            (PRIVATE, "editor", 200, "editor"),
            (PRIVATE, "viewer", 200, "viewer"),
            (PRIVATE, "stranger", 404, None),
            (SHARED, "stranger", 404, None),
            (PUBLIC, "stranger", 200, None),
        ],
    )
    async def test_who_can_read_a_context(
        self, cast_for: CastFor, visibility: Visibility, actor: str, status: int, role: str | None
    ) -> None:
        cast = await cast_for(visibility)
        response = await cast.clients[actor].get(cast.path())
        assert response.status_code == status, response.text
        if status == 200:
            assert response.json()["role_of_caller"] == role
            assert response.json()["name"] == cast.context.name

    async def test_a_hidden_context_looks_exactly_like_a_missing_one(
        self, cast_for: CastFor
    ) -> None:
        cast = await cast_for(PRIVATE)
        stranger = cast.clients["stranger"]
        hidden = await stranger.get(cast.path())
        # Deleting the context frees its id for the comparison: same id, now truly missing.
        await cast.clients["owner"].delete(cast.path())
        missing = await stranger.get(cast.path())
        assert (hidden.status_code, hidden.json()) == (missing.status_code, missing.json())
        assert hidden.status_code == 404

    @pytest.mark.parametrize(("visibility", "actor", "status"), OWNER_ONLY_REFUSALS)
    @pytest.mark.parametrize("method", ["PATCH", "DELETE"])
    async def test_only_the_owner_may_change_or_delete_a_context(
        self, cast_for: CastFor, method: str, visibility: Visibility, actor: str, status: int
    ) -> None:
        cast = await cast_for(visibility)
        path = cast.path()
        body = {"name": "Taken over"} if method == "PATCH" else None
        response = await cast.clients[actor].request(method, path, json=body)
        assert response.status_code == status, response.text
        assert "detail" in response.json()
        after = await cast.clients["owner"].get(path)
        assert after.status_code == 200
        assert after.json()["name"] == cast.context.name

    async def test_staff_get_no_implicit_access_to_private_contexts(
        self,
        cast_for: CastFor,
        client_for: ClientFor,
        staff_user: User,
        superuser: User,
    ) -> None:
        context = (await cast_for(PRIVATE)).context
        for privileged in (staff_user, superuser):
            privileged_client = await client_for(privileged)
            response = await privileged_client.get(f"/contexts/{context.id}")
            assert response.status_code == 404, privileged.username
            assert context.name not in await names_listed(privileged_client)


# --- creating ------------------------------------------------------------------------------------


async def test_creating_a_context_returns_it_owned_by_the_caller(
    user_client: httpx.AsyncClient, user: User
) -> None:
    response = await create(user_client, name="  Research notes  ")
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["owner_id"] == user.id
    assert body["role_of_caller"] == "owner"
    assert (body["name"], body["slug"]) == ("Research notes", "research-notes")
    assert (body["description"], body["visibility"], body["metadata"]) == ("", "private", {})
    read = await user_client.get(f"/contexts/{body['id']}")
    assert read.json() == body


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("Café Déjà Vu!", "cafe-deja-vu"),
        ("  2024 -- Q3   plans ", "2024-q3-plans"),
        ("日本語", "context"),
        ("x" * 200, "x" * 200),
    ],
)
async def test_the_slug_is_derived_from_the_name_when_absent(
    user_client: httpx.AsyncClient, name: str, slug: str
) -> None:
    response = await create(user_client, name=name)
    assert response.status_code == 201, response.text
    assert response.json()["slug"] == slug


async def test_an_explicit_slug_is_kept(user_client: httpx.AsyncClient) -> None:
    response = await create(user_client, name="Anything", slug="my-own-2")
    assert response.status_code == 201, response.text
    assert response.json()["slug"] == "my-own-2"


async def test_all_fields_round_trip(user_client: httpx.AsyncClient) -> None:
    metadata = {
        "tags": ["ñandú", "Zürich", "日本語"],
        "nested": {"level": {"deeper": {"n": 1.5, "ok": True, "none": None}}},
        "emoji": "🙂",
    }
    response = await create(
        user_client, name="Ünïcode", description="Line one\nline two", visibility="public",
        metadata=metadata,
    )  # fmt: skip
    assert response.status_code == 201, response.text
    read = (await user_client.get(f"/contexts/{response.json()['id']}")).json()
    assert read["metadata"] == metadata
    assert (read["name"], read["description"]) == ("Ünïcode", "Line one\nline two")
    assert read["visibility"] == "public"


async def test_timestamps_come_back_in_utc(user_client: httpx.AsyncClient) -> None:
    body = (await create(user_client)).json()
    for field in ("created_at", "updated_at"):
        assert body[field].endswith(("Z", "+00:00")), body[field]
        assert datetime.fromisoformat(body[field]).utcoffset() is not None


async def test_metadata_may_be_nested_twenty_levels_deep(user_client: httpx.AsyncClient) -> None:
    response = await create(user_client, metadata=nested(20))
    assert response.status_code == 201, response.text
    assert response.json()["metadata"] == nested(20)


@pytest.mark.parametrize(
    ("fields", "bad_field"),
    [
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"name": "nul\x00byte"}, "name"),
        ({"description": "nul\x00byte"}, "description"),
        ({"description": "x" * 10_001}, "description"),
        ({"slug": "Upper-Case"}, "slug"),
        ({"slug": "double--dash"}, "slug"),
        ({"slug": "-leading"}, "slug"),
        ({"slug": "a" * 221}, "slug"),
        ({"visibility": "secret"}, "visibility"),
        ({"metadata": ["not", "an", "object"]}, "metadata"),
        ({"metadata": nested(21)}, "metadata"),
        ({"metadata": {"blob": "x" * (64 * 1024)}}, "metadata"),
        ({"metadata": {"key": "nul\x00byte"}}, "metadata"),
        ({"owner_id": 1}, "owner_id"),
    ],
)
async def test_invalid_contexts_are_refused_with_422(
    user_client: httpx.AsyncClient, fields: dict[str, Any], bad_field: str
) -> None:
    response = await create(user_client, **fields)
    assert error_fields(response) == {bad_field}
    assert await names_listed(user_client) == set()


async def test_a_duplicate_slug_for_the_same_owner_is_a_409_naming_it(
    user_client: httpx.AsyncClient,
) -> None:
    assert (await create(user_client, name="Notes")).status_code == 201
    response = await create(user_client, name="Other notes", slug="notes")
    assert response.status_code == 409
    assert "'notes'" in response.json()["detail"]
    assert await names_listed(user_client) == {"Notes"}


async def test_two_owners_may_use_the_same_slug(
    db_session: AsyncSession, client_for: ClientFor, user_client: httpx.AsyncClient
) -> None:
    other = await client_for(await make_user(db_session))
    first = await create(user_client, name="Notes")
    second = await create(other, name="Notes")
    assert (first.status_code, second.status_code) == (201, 201)
    assert first.json()["slug"] == second.json()["slug"] == "notes"


# --- changing and deleting -----------------------------------------------------------------------


async def test_the_owner_changes_settings_and_unchanged_fields_are_kept(
    user_client: httpx.AsyncClient,
) -> None:
    created = (await create(user_client, description="keep me", metadata={"a": 1})).json()
    response = await user_client.patch(
        f"/contexts/{created['id']}",
        json={"name": "Renamed", "slug": "renamed", "visibility": "shared", "metadata": {"b": 2}},
    )
    assert response.status_code == 200, response.text
    updated = response.json()
    assert (updated["name"], updated["slug"], updated["visibility"]) == (
        "Renamed",
        "renamed",
        "shared",
    )
    assert (updated["metadata"], updated["description"]) == ({"b": 2}, "keep me")
    assert updated["created_at"] == created["created_at"]
    assert datetime.fromisoformat(updated["updated_at"]) > datetime.fromisoformat(
        created["updated_at"]
    )
    assert (await user_client.get(f"/contexts/{created['id']}")).json() == updated


async def test_renaming_to_a_slug_the_owner_already_uses_is_a_409(
    user_client: httpx.AsyncClient,
) -> None:
    await create(user_client, name="First")
    second = (await create(user_client, name="Second")).json()
    clash = await user_client.patch(f"/contexts/{second['id']}", json={"slug": "first"})
    assert clash.status_code == 409
    assert "'first'" in clash.json()["detail"]
    same = await user_client.patch(f"/contexts/{second['id']}", json={"slug": "second"})
    assert same.status_code == 200, same.text


@pytest.mark.parametrize(
    ("fields", "bad_field"),
    [
        ({"name": None}, "name"),
        ({"name": " "}, "name"),
        ({"visibility": None}, "visibility"),
        ({"slug": "Not A Slug"}, "slug"),
        ({"owner_id": 2}, "owner_id"),
    ],
)
async def test_invalid_changes_are_refused_with_422(
    user_client: httpx.AsyncClient, fields: dict[str, Any], bad_field: str
) -> None:
    created = (await create(user_client)).json()
    response = await user_client.patch(f"/contexts/{created['id']}", json=fields)
    assert error_fields(response) == {bad_field}
    assert (await user_client.get(f"/contexts/{created['id']}")).json() == created


async def test_deleting_a_context_deletes_its_members_and_entries(
    db_session: AsyncSession, user: User, user_client: httpx.AsyncClient
) -> None:
    context = await make_context(db_session, owner=user)
    await make_member(db_session, context=context)
    await make_entry(db_session, context=context)
    await make_entry(db_session, context=context)

    response = await user_client.delete(f"/contexts/{context.id}")
    assert response.status_code == 204
    assert response.content == b""
    assert (await user_client.get(f"/contexts/{context.id}")).status_code == 404
    for model in (ContextMember, ContextEntry):
        query = select(func.count()).select_from(model).where(model.context_id == context.id)
        assert (await db_session.execute(query)).scalar_one() == 0, model.__name__


@pytest.mark.parametrize("context_id", [0, 2**31])
async def test_ids_outside_the_integer_range_are_a_422(
    user_client: httpx.AsyncClient, context_id: int
) -> None:
    response = await user_client.get(f"/contexts/{context_id}")
    assert error_fields(response) == {"context_id"}


# --- listing -------------------------------------------------------------------------------------


@pytest.fixture
async def landscape(db_session: AsyncSession, user: User) -> None:
    """Contexts named after how ``user`` relates to them."""
    other = await make_user(db_session)
    await make_context(db_session, owner=user, name="Mine private")
    await make_context(db_session, owner=user, name="Mine public", visibility=PUBLIC)
    for role in Role:
        shared = await make_context(db_session, owner=other, name=f"Shared {role}")
        await make_member(db_session, context=shared, user=user, role=role)
    await make_context(db_session, owner=other, name="Others public", visibility=PUBLIC)
    await make_context(db_session, owner=other, name="Others private")
    await make_context(db_session, owner=other, name="Others shared", visibility=SHARED)


# The bench's "one test" (backend/bench/plan.py): what most API tests do, one request.
async def test_a_new_user_lists_no_contexts(user_client: httpx.AsyncClient) -> None:
    response = await user_client.get("/contexts")
    assert response.status_code == 200
    assert response.json()["items"] == []


@pytest.mark.parametrize(
    ("scope", "expected"),
    [
        ("all", {"Mine private", "Mine public", "Shared viewer", "Shared editor", "Others public"}),
        ("own", {"Mine private", "Mine public"}),
        ("shared", {"Shared viewer", "Shared editor"}),
        ("public", {"Mine public", "Others public"}),
    ],
)
@pytest.mark.usefixtures("landscape")
async def test_the_list_shows_what_the_caller_may_see_by_scope(
    user_client: httpx.AsyncClient, scope: str, expected: set[str]
) -> None:
    assert await names_listed(user_client, scope=scope) == expected


@pytest.mark.usefixtures("landscape")
async def test_the_list_gives_the_callers_role_in_each_context(
    user_client: httpx.AsyncClient,
) -> None:
    items = (await user_client.get("/contexts")).json()["items"]
    roles = {item["name"]: item["role_of_caller"] for item in items}
    assert roles == {
        "Mine private": "owner",
        "Mine public": "owner",
        "Shared viewer": "viewer",
        "Shared editor": "editor",
        "Others public": None,
    }


async def test_the_name_filter_ignores_case(
    db_session: AsyncSession, user: User, user_client: httpx.AsyncClient
) -> None:
    for name in ("Quarterly REPORT", "report drafts", "Holiday plans"):
        await make_context(db_session, owner=user, name=name)
    assert await names_listed(user_client, q="RePoRt") == {"Quarterly REPORT", "report drafts"}
    assert (await user_client.get("/contexts", params={"q": "report"})).json()["total"] == 2


@pytest.mark.parametrize(
    ("q", "expected"),
    [("100%", {"100% done"}), ("a_b", {"a_b"}), ("%", {"100% done"}), ("_", {"a_b"})],
)
async def test_the_name_filter_takes_wildcards_literally(
    db_session: AsyncSession, user: User, user_client: httpx.AsyncClient, q: str, expected: set[str]
) -> None:
    for name in ("100% done", "1000 done", "a_b", "axb"):
        await make_context(db_session, owner=user, name=name)
    assert await names_listed(user_client, q=q) == expected


async def test_the_list_pages_newest_first_with_a_total(
    db_session: AsyncSession, user: User, user_client: httpx.AsyncClient
) -> None:
    names = [f"Context number {n}" for n in range(5)]
    for name in names:
        await make_context(db_session, owner=user, name=name)
    pages = []
    for page in (1, 2, 3, 4):
        response = await user_client.get("/contexts", params={"page": page, "page_size": 2})
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["total"], body["page"], body["page_size"]) == (5, page, 2)
        pages.append([item["name"] for item in body["items"]])
    assert pages == [names[4:2:-1], names[2:0:-1], names[:1], []]


@pytest.mark.parametrize(
    ("params", "bad_field"),
    [
        ({"page": 0}, "page"),
        ({"page_size": 1000}, "page_size"),
        ({"page_size": 0}, "page_size"),
        ({"scope": "everything"}, "scope"),
        ({"q": "nul\x00byte"}, "q"),
    ],
)
async def test_invalid_list_parameters_are_refused_with_422(
    user_client: httpx.AsyncClient, params: dict[str, Any], bad_field: str
) -> None:
    assert error_fields(await user_client.get("/contexts", params=params)) == {bad_field}


async def test_listing_runs_the_same_few_queries_however_many_contexts_there_are(
    db_session: AsyncSession, user: User, user_client: httpx.AsyncClient, count_queries: Any
) -> None:
    async def listing_queries() -> Any:
        with count_queries() as queries:
            response = await user_client.get("/contexts", params={"page_size": 100})
        assert response.status_code == 200
        return queries, response.json()["total"]

    await make_context(db_session, owner=user)
    few, few_total = await listing_queries()
    other = await make_user(db_session)
    for number in range(10):
        shared = await make_context(db_session, owner=other)
        await make_member(db_session, context=shared, user=user, role=list(Role)[number % 2])
        await make_context(db_session, owner=other, visibility=PUBLIC)
    many, many_total = await listing_queries()
    assert (few_total, many_total) == (1, 21)
    assert many.count == few.count <= 4, many
