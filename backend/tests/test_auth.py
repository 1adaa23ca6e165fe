"""Login, tokens and the current user, through HTTP."""

from __future__ import annotations

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from backend.models import User
from backend.testing.factories import DEFAULT_PASSWORD, make_user


async def login(client: httpx.AsyncClient, username: str, password: str) -> httpx.Response:
    return await client.post("/auth/token", data={"username": username, "password": password})


async def test_login_returns_a_token_that_identifies_the_user(
    client: httpx.AsyncClient, user: User
) -> None:
    response = await login(client, user.username, DEFAULT_PASSWORD)
    assert response.status_code == 200, response.text
    token = response.json()["access_token"]
    me = await client.get("/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200
    assert me.json()["username"] == user.username


async def test_wrong_password_is_refused(client: httpx.AsyncClient, user: User) -> None:
    response = await login(client, user.username, "not the password")
    assert response.status_code == 401
    assert "detail" in response.json()


async def test_health(client: httpx.AsyncClient, db_session: AsyncSession) -> None:
    await make_user(db_session)
    response = await client.get("/health")
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "ok"
