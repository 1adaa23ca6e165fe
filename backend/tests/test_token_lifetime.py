"""Tokens die with what they stand for: deletion, id reuse, and (below) account changes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import jwt
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from backend.auth.service import set_password_by_username
from backend.config import Settings
from backend.loaddata import load_files
from backend.models import User
from backend.tests.factories import DEFAULT_PASSWORD, make_user
from backend.tests.fixtures.clients import ClientFor, bearer_header, login_token


async def test_a_deleted_users_token_does_not_pass_to_the_next_user_created(
    client_for: ClientFor, db_session: AsyncSession
) -> None:
    # The newest user is deleted: SQLite without AUTOINCREMENT gave its id to the next insert.
    doomed = await make_user(db_session, username="doomed")
    old_id = doomed.id
    authenticated = await client_for(doomed)
    await db_session.delete(doomed)
    await db_session.commit()
    successor = await make_user(db_session, username="successor")
    assert successor.id != old_id
    response = await authenticated.get("/auth/me")
    assert response.status_code == 401, response.text


async def test_every_table_takes_a_fresh_id_after_the_newest_row_is_deleted(
    client: httpx.AsyncClient, db_session: AsyncSession
) -> None:
    first = await make_user(db_session)
    first_id = first.id
    await db_session.delete(first)
    await db_session.commit()
    assert (await make_user(db_session)).id > first_id


async def test_a_fixture_loaded_with_an_old_primary_key_does_not_revive_its_tokens(
    client_for: ClientFor, db_session: AsyncSession, tmp_path: Path
) -> None:
    # Any engine: loaddata inserts the ids a fixture gives, so an id can come back on purpose.
    doomed = await make_user(db_session, username="was-here")
    old_id = doomed.id
    authenticated = await client_for(doomed)
    await db_session.delete(doomed)
    await db_session.commit()
    fixture = tmp_path / "back.json"
    fixture.write_text(json.dumps([{"model": "auth.user", "pk": old_id, "fields": {
        "username": "came-back", "password": "!unusable"}}]))  # fmt: skip
    await load_files(db_session, [fixture])
    await db_session.commit()
    assert (await authenticated.get("/auth/me")).status_code == 401


async def test_changing_the_password_ends_other_tokens_and_returns_a_working_one(
    client: httpx.AsyncClient, user: User
) -> None:
    other_device = await login_token(client, user.username, DEFAULT_PASSWORD)
    this_device = await login_token(client, user.username, DEFAULT_PASSWORD)
    response = await client.post(
        "/auth/password",
        headers=bearer_header(this_device),
        json={"current_password": DEFAULT_PASSWORD, "new_password": "a brand new password"},
    )
    assert response.status_code == 200, response.text
    new_token = response.json()["access_token"]
    assert (await client.get("/auth/me", headers=bearer_header(other_device))).status_code == 401
    assert (await client.get("/auth/me", headers=bearer_header(this_device))).status_code == 401
    assert (await client.get("/auth/me", headers=bearer_header(new_token))).status_code == 200
    assert await login_token(client, user.username, "a brand new password")
    refused = await client.post(
        "/auth/token", data={"username": user.username, "password": DEFAULT_PASSWORD}
    )
    assert refused.status_code == 401


async def test_a_wrong_current_password_changes_nothing(
    client: httpx.AsyncClient, user_client: httpx.AsyncClient, user: User
) -> None:
    response = await user_client.post(
        "/auth/password",
        json={"current_password": "not it at all", "new_password": "a brand new password"},
    )
    assert response.status_code == 403, response.text
    assert response.json()["detail"] == "the current password is wrong"
    assert (await user_client.get("/auth/me")).status_code == 200
    assert await login_token(client, user.username, DEFAULT_PASSWORD)


async def test_a_too_short_new_password_is_a_422(user_client: httpx.AsyncClient) -> None:
    response = await user_client.post(
        "/auth/password", json={"current_password": DEFAULT_PASSWORD, "new_password": "short"}
    )
    assert response.status_code == 422, response.text


@pytest.mark.parametrize(
    "change",
    [
        {"is_active": False},
        {"is_staff": True},
        {"is_superuser": True},
        {"password": "pbkdf2_sha256$1$salt$set-directly-by-some-code-path"},
    ],
    ids=["deactivated", "made staff", "made superuser", "password set directly"],
)
async def test_any_change_of_password_activity_or_privilege_ends_old_tokens(
    client_for: ClientFor, user: User, db_session: AsyncSession, change: dict[str, object]
) -> None:
    # Set on the model by no particular service: the rule lives on the model, for every path.
    authenticated = await client_for(user)
    assert (await authenticated.get("/auth/me")).status_code == 200
    for name, value in change.items():
        setattr(user, name, value)
    await db_session.commit()
    user.is_active = True
    await db_session.commit()
    assert (await authenticated.get("/auth/me")).status_code == 401


async def test_re_activation_does_not_bring_old_tokens_back(
    client_for: ClientFor, superuser_client: httpx.AsyncClient, user: User
) -> None:
    authenticated = await client_for(user)
    deactivated = await superuser_client.post(f"/admin/users/{user.id}/deactivate")
    assert deactivated.status_code == 200, deactivated.text
    activated = await superuser_client.post(f"/admin/users/{user.id}/activate")
    assert activated.status_code == 200, activated.text
    assert (await authenticated.get("/auth/me")).status_code == 401


async def test_a_plain_edit_keeps_tokens(
    client_for: ClientFor, user: User, db_session: AsyncSession
) -> None:
    authenticated = await client_for(user)
    user.first_name = "Renamed"
    user.last_login = None
    await db_session.commit()
    assert (await authenticated.get("/auth/me")).status_code == 200


async def test_changepassword_from_the_service_the_cli_uses_ends_tokens(
    client_for: ClientFor, client: httpx.AsyncClient, user: User, db_session: AsyncSession
) -> None:
    authenticated = await client_for(user)
    await set_password_by_username(
        session=db_session, username=user.username, password="set by an operator"
    )
    await db_session.commit()
    assert (await authenticated.get("/auth/me")).status_code == 401
    assert await login_token(client, user.username, "set by an operator")


@pytest.mark.parametrize(
    "subject",
    [str(2**70), str(2**31), "-1", "0", "007", "1e3", " 1", "abc", ""],
)
async def test_a_signed_token_naming_no_possible_user_is_a_401(
    client: httpx.AsyncClient, user: User, settings: Settings, subject: str
) -> None:
    claims = {
        "sub": subject,
        "gen": user.token_generation,
        "iat": datetime.now(UTC),
        "exp": datetime.now(UTC) + timedelta(minutes=5),
        "type": "access",
    }
    token = jwt.encode(claims, settings.signing_key, algorithm="HS256")
    response = await client.get("/auth/me", headers=bearer_header(token))
    assert response.status_code == 401, response.text
    assert "detail" in response.json()


async def test_a_signed_token_from_before_generations_is_a_401(
    client: httpx.AsyncClient, user: User, settings: Settings
) -> None:
    # What every token issued before revision 8e5b2a9d4f17 looks like: no "gen" claim.
    now = datetime.now(UTC)
    claims = {"sub": str(user.id), "iat": now, "exp": now + timedelta(minutes=5), "type": "access"}
    token = jwt.encode(claims, settings.signing_key, algorithm="HS256")
    assert (await client.get("/auth/me", headers=bearer_header(token))).status_code == 401


@pytest.mark.committed
async def test_a_password_change_commits_outside_the_test_transaction(
    client: httpx.AsyncClient, db_session: AsyncSession
) -> None:
    # Real transactions on the engine, as served: the request's own unit of work and the
    # throttle's session must not wait on each other (SQLite has one writer).
    owner = await make_user(db_session, username="committed-owner")
    token = await login_token(client, owner.username, DEFAULT_PASSWORD)
    response = await client.post(
        "/auth/password",
        headers=bearer_header(token),
        json={"current_password": DEFAULT_PASSWORD, "new_password": "committed new password"},
    )
    assert response.status_code == 200, response.text
    assert (await client.get("/auth/me", headers=bearer_header(token))).status_code == 401
    assert await login_token(client, owner.username, "committed new password")
