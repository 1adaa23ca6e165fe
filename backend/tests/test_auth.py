"""Login, tokens and the current user, through HTTP."""

from __future__ import annotations

from datetime import timedelta

import httpx
import jwt
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from backend.auth.tokens import create_access_token
from backend.config import Settings
from backend.models import User
from backend.tests.factories import DEFAULT_PASSWORD, make_user
from backend.tests.fixtures.clients import bearer_header, login


async def test_login_returns_a_token_that_identifies_the_user(
    client: httpx.AsyncClient, user: User
) -> None:
    response = await login(client, user.username, DEFAULT_PASSWORD)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] > 0
    me = await client.get("/auth/me", headers=bearer_header(body["access_token"]))
    assert me.status_code == 200
    assert me.json()["username"] == user.username


async def test_login_records_the_time_of_the_last_login(
    client: httpx.AsyncClient, user: User, db_session: AsyncSession
) -> None:
    assert user.last_login is None
    await login(client, user.username, DEFAULT_PASSWORD)
    await db_session.refresh(user)
    assert user.last_login is not None and user.last_login.tzinfo is not None


@pytest.mark.parametrize(
    ("username", "password"),
    [("alice", "not the password"), ("nobody-by-that-name", DEFAULT_PASSWORD), ("alice", "")],
    ids=["wrong password", "unknown user", "empty password"],
)
async def test_bad_credentials_get_the_same_401(
    client: httpx.AsyncClient, user: User, username: str, password: str
) -> None:
    response = await login(client, username, password)
    assert response.status_code in (401, 422)
    if response.status_code == 401:
        assert response.json()["detail"] == "wrong username or password, or the account is inactive"


async def test_an_inactive_user_cannot_log_in_and_is_told_the_same(
    client: httpx.AsyncClient, db_session: AsyncSession
) -> None:
    await make_user(db_session, username="dormant", is_active=False)
    response = await login(client, "dormant", DEFAULT_PASSWORD)
    assert response.status_code == 401
    assert response.json()["detail"] == "wrong username or password, or the account is inactive"


async def test_a_django_password_hash_logs_in_and_is_upgraded_to_argon2(
    client: httpx.AsyncClient, db_session: AsyncSession
) -> None:
    # Written by Django 5.2.19's make_password("django-era secret") at 1000 iterations
    # (backend/tests/data/make_django_hashes.py; test_password_hashes.py checks Django's own cost).
    django_hash = (
        "pbkdf2_sha256$1000$4gmUVupdDaoIyLApLHjTIe$C9DNUj8f3s1hIp6/EpD9yr8du/fn+O5gltIt2XNP74o="
    )
    legacy = await make_user(db_session, username="legacy")
    legacy.password = django_hash
    await db_session.commit()

    response = await login(client, "legacy", "django-era secret")
    assert response.status_code == 200, response.text
    await db_session.refresh(legacy)
    assert legacy.password.startswith("$argon2")
    assert (await login(client, "legacy", "django-era secret")).status_code == 200


async def test_a_hash_made_by_django_itself_verifies(
    client: httpx.AsyncClient, db_session: AsyncSession
) -> None:
    # Written by Django 5.2.19's make_password("hunter2-hunter2", salt="legacysaltvalue1") at
    # 1000 iterations (backend/tests/data/make_django_hashes.py, "cheap_known_answer").
    known = "pbkdf2_sha256$1000$legacysaltvalue1$9f64BnFzLObWoa635N/eqR5PFqVfyzr37V90lZ+E2Z4="
    legacy = await make_user(db_session, username="from-django")
    legacy.password = known
    await db_session.commit()
    assert (await login(client, "from-django", "hunter2-hunter2")).status_code == 200


async def test_an_unusable_django_password_never_logs_in(
    client: httpx.AsyncClient, db_session: AsyncSession
) -> None:
    locked = await make_user(db_session, username="unusable")
    locked.password = "!Ab3dE6gH9jK"  # what Django's set_unusable_password() writes
    await db_session.commit()
    assert (await login(client, "unusable", "!Ab3dE6gH9jK")).status_code == 401


async def test_repeated_failures_for_one_username_are_throttled(
    client: httpx.AsyncClient, user: User, settings: Settings
) -> None:
    for _ in range(settings.login_attempts_per_minute):
        assert (await login(client, user.username, "guess")).status_code == 401
    blocked = await login(client, user.username, DEFAULT_PASSWORD)
    assert blocked.status_code == 429
    assert int(blocked.headers["Retry-After"]) > 0
    # Other usernames are not affected.
    assert (await login(client, "someone-else", "guess")).status_code == 401


async def test_me_without_a_token_is_401_with_a_hint(client: httpx.AsyncClient) -> None:
    response = await client.get("/auth/me")
    assert response.status_code == 401
    assert "log in at /auth/token" in response.json()["detail"]
    assert response.headers["WWW-Authenticate"] == "Bearer"


async def test_an_expired_token_is_refused(
    client: httpx.AsyncClient, user: User, settings: Settings
) -> None:
    token = create_access_token(
        user_id=user.id,
        generation=user.token_generation,
        key=settings.signing_key,
        lifetime=timedelta(seconds=-1),
    )
    assert (await client.get("/auth/me", headers=bearer_header(token))).status_code == 401


async def test_a_token_signed_with_another_key_is_refused(
    client: httpx.AsyncClient, user: User
) -> None:
    token = create_access_token(
        user_id=user.id,
        generation=user.token_generation,
        key="x" * 48,
        lifetime=timedelta(minutes=5),
    )
    assert (await client.get("/auth/me", headers=bearer_header(token))).status_code == 401


async def test_a_tampered_token_is_refused(
    client: httpx.AsyncClient, user: User, settings: Settings, db_session: AsyncSession
) -> None:
    other = await make_user(db_session)
    token = create_access_token(
        user_id=user.id,
        generation=user.token_generation,
        key=settings.signing_key,
        lifetime=timedelta(minutes=5),
    )
    header, _payload, signature = token.split(".")
    forged_payload = jwt.encode({"sub": str(other.id)}, "k" * 32, algorithm="HS256").split(".")[1]
    forged = f"{header}.{forged_payload}.{signature}"
    assert (await client.get("/auth/me", headers=bearer_header(forged))).status_code == 401


async def test_an_unsigned_token_is_refused(client: httpx.AsyncClient, user: User) -> None:
    token = jwt.encode(
        {"sub": str(user.id), "exp": 9_999_999_999, "iat": 0}, None, algorithm="none"
    )
    assert (await client.get("/auth/me", headers=bearer_header(token))).status_code == 401


async def test_a_token_of_a_deactivated_user_stops_working_at_once(
    client_for: object, user: User, db_session: AsyncSession
) -> None:
    authenticated = await client_for(user)  # type: ignore[operator]
    assert (await authenticated.get("/auth/me")).status_code == 200
    user.is_active = False
    await db_session.commit()
    assert (await authenticated.get("/auth/me")).status_code == 401


async def test_a_token_of_a_deleted_user_stops_working(
    client_for: object, db_session: AsyncSession
) -> None:
    doomed = await make_user(db_session)
    authenticated = await client_for(doomed)  # type: ignore[operator]
    await db_session.delete(doomed)
    await db_session.commit()
    assert (await authenticated.get("/auth/me")).status_code == 401


async def test_health_reports_the_schema_at_head(client: httpx.AsyncClient) -> None:
    response = await client.get("/health")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ok"
    assert body["revision"] == body["head"]


async def test_the_openapi_schema_is_served(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    assert "/auth/token" in schema["paths"]
    assert (await client.get("/docs")).status_code == 200
