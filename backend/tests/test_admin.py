"""User administration through HTTP: permissions, searching, creating, and the effect on login."""

from __future__ import annotations

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.models import Context, User
from backend.tests.factories import DEFAULT_PASSWORD, make_context, make_user
from backend.tests.fixtures.clients import ClientFor, login

# Valid as a path id on both engines, and never reached by a test database's sequence.
UNKNOWN_ID = 2**31 - 1
NEW_PASSWORD = "a long enough password"

STAFF_ENDPOINTS = [
    ("POST", "/admin/users/{id}/activate"),
    ("POST", "/admin/users/{id}/deactivate"),
    ("POST", "/admin/users/{id}/revoke-staff"),
]
SUPERUSER_ENDPOINTS = [
    ("POST", "/admin/users/{id}/grant-staff"),
    ("POST", "/admin/users/{id}/grant-superuser"),
    ("DELETE", "/admin/users/{id}"),
]
ID_ENDPOINTS = STAFF_ENDPOINTS + SUPERUSER_ENDPOINTS
ALL_ENDPOINTS = [("GET", "/admin/users"), ("POST", "/admin/users"), *ID_ENDPOINTS]


def new_user_body(**overrides: object) -> dict[str, object]:
    return {"username": "newbie", "email": "newbie@example.com", "password": NEW_PASSWORD} | (
        overrides
    )


async def call(client: httpx.AsyncClient, method: str, path: str, user_id: int) -> httpx.Response:
    body = new_user_body() if (method, path) == ("POST", "/admin/users") else None
    return await client.request(method, path.format(id=user_id), json=body)


async def usernames(client: httpx.AsyncClient, **params: object) -> list[str]:
    response = await client.get("/admin/users", params=params)
    assert response.status_code == 200, response.text
    return [item["username"] for item in response.json()["items"]]


# Permission boundaries


async def test_anonymous_callers_must_log_in(client: httpx.AsyncClient, user: User) -> None:
    for method, path in ALL_ENDPOINTS:
        response = await call(client, method, path, user.id)
        assert response.status_code == 401, (method, path, response.text)


async def test_plain_users_are_forbidden(
    user_client: httpx.AsyncClient, db_session: AsyncSession
) -> None:
    target = await make_user(db_session)
    for method, path in ALL_ENDPOINTS:
        response = await call(user_client, method, path, target.id)
        assert response.status_code == 403, (method, path, response.text)
    await db_session.refresh(target)
    assert target.is_active
    assert not target.is_staff


async def test_staff_cannot_delete_users_or_grant_superuser(
    staff_client: httpx.AsyncClient, db_session: AsyncSession
) -> None:
    target = await make_user(db_session)
    for method, path in SUPERUSER_ENDPOINTS:
        response = await call(staff_client, method, path, target.id)
        assert response.status_code == 403, (method, path, response.text)
    await db_session.refresh(target)
    assert not target.is_superuser


async def test_unknown_user_ids_are_404(superuser_client: httpx.AsyncClient) -> None:
    for method, path in ID_ENDPOINTS:
        response = await call(superuser_client, method, path, UNKNOWN_ID)
        assert response.status_code == 404, (method, path, response.text)
        assert str(UNKNOWN_ID) in response.json()["detail"]


async def test_ids_outside_the_integer_range_are_422(staff_client: httpx.AsyncClient) -> None:
    response = await staff_client.post(f"/admin/users/{2**31}/activate")
    assert response.status_code == 422


# Listing and searching


async def test_staff_list_users_ordered_by_username(
    staff_client: httpx.AsyncClient, db_session: AsyncSession, user: User
) -> None:
    await make_user(db_session, username="carol")
    await make_user(db_session, username="bob")
    response = await staff_client.get("/admin/users")
    assert response.status_code == 200, response.text
    page = response.json()
    assert [item["username"] for item in page["items"]] == ["alice", "bob", "carol", "staff"]
    assert page["total"] == 4
    assert "password" not in page["items"][0]


async def test_list_is_paginated(staff_client: httpx.AsyncClient, db_session: AsyncSession) -> None:
    for name in ("u1", "u2", "u3"):
        await make_user(db_session, username=name)
    response = await staff_client.get("/admin/users", params={"page": 2, "page_size": 3})
    page = response.json()
    assert [item["username"] for item in page["items"]] == ["u3"]
    assert (page["total"], page["page"], page["page_size"]) == (4, 2, 3)


async def test_search_ignores_case_in_every_name_field(
    staff_client: httpx.AsyncClient, db_session: AsyncSession
) -> None:
    await make_user(db_session, username="jdoe", email="J.Doe@Example.org")
    await make_user(db_session, username="x1", first_name="Jane")
    await make_user(db_session, username="x2", last_name="DOEBLER")
    await make_user(db_session, username="other", email="other@elsewhere.net")
    assert await usernames(staff_client, q="DoE") == ["jdoe", "x2"]
    assert await usernames(staff_client, q="jANE") == ["x1"]
    assert await usernames(staff_client, q="EXAMPLE.ORG") == ["jdoe"]


async def test_search_takes_percent_and_underscore_literally(
    staff_client: httpx.AsyncClient, db_session: AsyncSession
) -> None:
    await make_user(db_session, username="a_b")
    await make_user(db_session, username="axb")
    await make_user(db_session, username="pct", first_name="100%")
    await make_user(db_session, username="back", last_name="back\\slash")
    assert await usernames(staff_client, q="a_b") == ["a_b"]
    assert await usernames(staff_client, q="%") == ["pct"]
    assert await usernames(staff_client, q="k\\s") == ["back"]


async def test_filters_by_active_and_staff(
    staff_client: httpx.AsyncClient, db_session: AsyncSession, user: User
) -> None:
    await make_user(db_session, username="gone", is_active=False)
    await make_user(db_session, username="gone-staff", is_active=False, is_staff=True)
    assert await usernames(staff_client, is_active="false") == ["gone", "gone-staff"]
    assert await usernames(staff_client, is_staff="true") == ["gone-staff", "staff"]
    assert await usernames(staff_client, is_active="true", is_staff="false") == ["alice"]


async def test_bad_list_parameters_are_422(staff_client: httpx.AsyncClient) -> None:
    for params in (
        {"page_size": 0},
        {"page_size": 101},
        {"page": 0},
        {"q": "a\x00b"},
        {"q": "x" * 255},
        {"is_staff": "maybe"},
    ):
        response = await staff_client.get("/admin/users", params=params)
        assert response.status_code == 422, (params, response.text)


# Creating users


async def test_staff_create_a_user_who_can_then_log_in(
    staff_client: httpx.AsyncClient, client: httpx.AsyncClient, db_session: AsyncSession
) -> None:
    response = await staff_client.post(
        "/admin/users", json=new_user_body(first_name="New", last_name="Bie")
    )
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["username"] == "newbie"
    assert (created["is_active"], created["is_staff"], created["is_superuser"]) == (
        True,
        False,
        False,
    )
    assert "password" not in created
    stored = await db_session.scalar(select(User.password).where(User.id == created["id"]))
    assert stored is not None
    assert stored.startswith("$argon2")
    assert (await login(client, "newbie", NEW_PASSWORD)).status_code == 200


async def test_only_superusers_create_staff(
    staff_client: httpx.AsyncClient, superuser_client: httpx.AsyncClient
) -> None:
    refused = await staff_client.post("/admin/users", json=new_user_body(is_staff=True))
    assert refused.status_code == 403, refused.text
    created = await superuser_client.post("/admin/users", json=new_user_body(is_staff=True))
    assert created.status_code == 201, created.text
    assert created.json()["is_staff"] is True


async def test_duplicate_username_is_409(staff_client: httpx.AsyncClient, user: User) -> None:
    response = await staff_client.post(
        "/admin/users", json=new_user_body(username=user.username, email="fresh@example.com")
    )
    assert response.status_code == 409, response.text
    assert user.username in response.json()["detail"]


async def test_email_differing_only_in_case_is_409(
    staff_client: httpx.AsyncClient, db_session: AsyncSession
) -> None:
    await make_user(db_session, username="owner", email="shared@example.com")
    response = await staff_client.post(
        "/admin/users", json=new_user_body(email="SHARED@Example.com")
    )
    assert response.status_code == 409, response.text
    assert "email" in response.json()["detail"]


async def test_several_users_may_have_no_email(staff_client: httpx.AsyncClient) -> None:
    for name in ("first", "second"):
        response = await staff_client.post(
            "/admin/users", json=new_user_body(username=name, email="")
        )
        assert response.status_code == 201, response.text


INVALID_NEW_USERS = [
    {"username": ""},
    {"username": "has space"},
    {"username": "semi;colon"},
    {"username": "x" * 151},
    {"email": "not-an-email"},
    {"email": "a\x00b@example.com"},
    {"password": "short"},
    {"password": "x" * 4097},
    {"password": "has a NUL \x00 inside"},
    {"first_name": "x" * 151},
    {"last_name": "nul\x00"},
    {"is_superuser": True},
    {"unexpected": "field"},
    {"password": None},
]


async def test_invalid_new_users_are_422_and_not_stored(
    staff_client: httpx.AsyncClient, db_session: AsyncSession
) -> None:
    for overrides in INVALID_NEW_USERS:
        response = await staff_client.post("/admin/users", json=new_user_body(**overrides))
        assert response.status_code == 422, (overrides, response.text)
    assert await db_session.scalar(select(func.count()).select_from(User)) == 1


async def test_django_usernames_with_symbols_and_letters_are_accepted(
    staff_client: httpx.AsyncClient,
) -> None:
    response = await staff_client.post(
        "/admin/users", json=new_user_body(username="zoë.o'", email="")
    )
    assert response.status_code == 422  # the apostrophe is not allowed
    response = await staff_client.post(
        "/admin/users", json=new_user_body(username="zoë.o+tag@site-1_x", email="")
    )
    assert response.status_code == 201, response.text


# Activating and deactivating


async def test_deactivated_user_loses_token_and_login_until_reactivated(
    staff_client: httpx.AsyncClient, client: httpx.AsyncClient, user: User
) -> None:
    token = (await login(client, user.username, DEFAULT_PASSWORD)).json()["access_token"]
    bearer = {"Authorization": f"Bearer {token}"}
    assert (await client.get("/auth/me", headers=bearer)).status_code == 200

    response = await staff_client.post(f"/admin/users/{user.id}/deactivate")
    assert response.status_code == 200, response.text
    assert response.json()["is_active"] is False
    assert (await client.get("/auth/me", headers=bearer)).status_code == 401
    assert (await login(client, user.username, DEFAULT_PASSWORD)).status_code == 401

    response = await staff_client.post(f"/admin/users/{user.id}/activate")
    assert response.json()["is_active"] is True
    # Re-activation does not bring the old token back (issue 15): the user logs in again.
    assert (await client.get("/auth/me", headers=bearer)).status_code == 401
    assert (await login(client, user.username, DEFAULT_PASSWORD)).status_code == 200


async def test_nobody_can_deactivate_themself(
    staff_client: httpx.AsyncClient,
    staff_user: User,
    superuser_client: httpx.AsyncClient,
    superuser: User,
) -> None:
    for me, my_client in ((staff_user, staff_client), (superuser, superuser_client)):
        response = await my_client.post(f"/admin/users/{me.id}/deactivate")
        assert response.status_code == 409, response.text
        assert "your own account" in response.json()["detail"]
        assert (await my_client.get("/auth/me")).status_code == 200


async def test_only_superusers_deactivate_superusers(
    staff_client: httpx.AsyncClient,
    superuser_client: httpx.AsyncClient,
    db_session: AsyncSession,
) -> None:
    other_root = await make_user(db_session, is_staff=True, is_superuser=True)
    refused = await staff_client.post(f"/admin/users/{other_root.id}/deactivate")
    assert refused.status_code == 403, refused.text
    done = await superuser_client.post(f"/admin/users/{other_root.id}/deactivate")
    assert done.status_code == 200, done.text
    assert done.json()["is_active"] is False


# Staff and superuser status


async def test_superusers_grant_and_staff_revoke_staff_status(
    staff_client: httpx.AsyncClient,
    superuser_client: httpx.AsyncClient,
    client: httpx.AsyncClient,
    user: User,
) -> None:
    async def fresh_token() -> dict[str, str]:
        token = (await login(client, user.username, DEFAULT_PASSWORD)).json()["access_token"]
        return {"Authorization": f"Bearer {token}"}

    before = await fresh_token()
    assert (await client.get("/admin/users", headers=before)).status_code == 403

    response = await superuser_client.post(f"/admin/users/{user.id}/grant-staff")
    assert response.status_code == 200, response.text
    assert response.json()["is_staff"] is True
    # A privilege change ends the tokens issued before it (issue 15); a new login has the staff.
    assert (await client.get("/auth/me", headers=before)).status_code == 401
    promoted = await fresh_token()
    assert (await client.get("/admin/users", headers=promoted)).status_code == 200

    response = await staff_client.post(f"/admin/users/{user.id}/revoke-staff")
    assert response.json()["is_staff"] is False
    assert (await client.get("/admin/users", headers=promoted)).status_code == 401
    assert (await client.get("/admin/users", headers=await fresh_token())).status_code == 403


async def test_staff_cannot_make_staff_by_creating_then_granting(
    staff_client: httpx.AsyncClient, client_for: ClientFor, db_session: AsyncSession
) -> None:
    created = await staff_client.post("/admin/users", json=new_user_body())
    assert created.status_code == 201, created.text
    new_id = created.json()["id"]
    refused = await staff_client.post(f"/admin/users/{new_id}/grant-staff")
    assert refused.status_code == 403, refused.text
    assert "superuser" in refused.json()["detail"]
    newbie = await db_session.get(User, new_id)
    assert newbie is not None
    await db_session.refresh(newbie)
    assert newbie.is_staff is False
    assert (await (await client_for(newbie)).get("/admin/users")).status_code == 403


async def test_only_superusers_reactivate_a_superuser(
    staff_client: httpx.AsyncClient,
    superuser_client: httpx.AsyncClient,
    client_for: ClientFor,
    db_session: AsyncSession,
) -> None:
    other_root = await make_user(db_session, is_staff=True, is_superuser=True)
    root_client = await client_for(other_root)
    done = await superuser_client.post(f"/admin/users/{other_root.id}/deactivate")
    assert done.status_code == 200, done.text

    refused = await staff_client.post(f"/admin/users/{other_root.id}/activate")
    assert refused.status_code == 403, refused.text
    assert (await root_client.get("/auth/me")).status_code == 401
    assert (await login(root_client, other_root.username, DEFAULT_PASSWORD)).status_code == 401

    again = await superuser_client.post(f"/admin/users/{other_root.id}/activate")
    assert again.status_code == 200, again.text
    assert again.json()["is_active"] is True
    # Re-activated, the superuser logs in again: the old token stays dead (issue 15 row 6).
    assert (await root_client.get("/auth/me")).status_code == 401


async def test_only_superusers_revoke_staff_from_a_superuser(
    staff_client: httpx.AsyncClient,
    superuser_client: httpx.AsyncClient,
    db_session: AsyncSession,
) -> None:
    other_root = await make_user(db_session, is_staff=True, is_superuser=True)
    refused = await staff_client.post(f"/admin/users/{other_root.id}/revoke-staff")
    assert refused.status_code == 403, refused.text
    done = await superuser_client.post(f"/admin/users/{other_root.id}/revoke-staff")
    assert done.status_code == 200, done.text
    assert done.json()["is_staff"] is False


async def test_staff_cannot_revoke_their_own_staff_status(
    staff_client: httpx.AsyncClient, staff_user: User
) -> None:
    response = await staff_client.post(f"/admin/users/{staff_user.id}/revoke-staff")
    assert response.status_code == 409, response.text
    assert (await staff_client.get("/admin/users")).status_code == 200


async def test_superuser_grants_superuser_which_includes_staff(
    superuser_client: httpx.AsyncClient, client_for: ClientFor, user: User, db_session: AsyncSession
) -> None:
    response = await superuser_client.post(f"/admin/users/{user.id}/grant-superuser")
    assert response.status_code == 200, response.text
    assert (response.json()["is_superuser"], response.json()["is_staff"]) == (True, True)
    victim = await make_user(db_session)
    await db_session.refresh(user)  # the grant gave the user a new token generation
    new_root = await client_for(user)
    assert (await new_root.delete(f"/admin/users/{victim.id}")).status_code == 204


# Deleting


async def test_superuser_deletes_a_user_and_what_they_own(
    superuser_client: httpx.AsyncClient,
    client_for: ClientFor,
    user: User,
    db_session: AsyncSession,
) -> None:
    await make_context(db_session, owner=user)
    their_client = await client_for(user)
    response = await superuser_client.delete(f"/admin/users/{user.id}")
    assert response.status_code == 204, response.text
    assert response.content == b""
    assert (await their_client.get("/auth/me")).status_code == 401
    assert (await superuser_client.post(f"/admin/users/{user.id}/activate")).status_code == 404
    owned = select(func.count()).select_from(Context).where(Context.owner_id == user.id)
    assert await db_session.scalar(owned) == 0


async def test_superuser_cannot_delete_themself(
    superuser_client: httpx.AsyncClient, superuser: User
) -> None:
    response = await superuser_client.delete(f"/admin/users/{superuser.id}")
    assert response.status_code == 409, response.text
    assert (await superuser_client.get("/auth/me")).status_code == 200


async def test_is_staff_must_be_a_boolean_as_the_schema_says(
    superuser_client: httpx.AsyncClient, db_session: AsyncSession
) -> None:
    for not_a_boolean in (0, 1, "true", None):
        response = await superuser_client.post(
            "/admin/users", json=new_user_body(is_staff=not_a_boolean)
        )
        assert response.status_code == 422, (not_a_boolean, response.text)
    assert await db_session.scalar(select(func.count()).where(User.username == "newbie")) == 0
