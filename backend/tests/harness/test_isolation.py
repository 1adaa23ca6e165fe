"""Per-test isolation: what one test writes, even when the app commits, is gone in the next."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from backend.db import get_sessionmaker
from backend.models import User
from backend.tests.factories import make_user

SHARED_USERNAME = "written-by-an-earlier-test"


async def user_count(session: AsyncSession) -> int:
    return int((await session.execute(select(func.count()).select_from(User))).scalar_one())


# Two identical tests: whichever runs second (random order included) fails if the first leaked.
@pytest.mark.parametrize("attempt", [1, 2])
async def test_a_row_committed_by_the_app_is_gone_in_the_next_test(
    attempt: int, db_session: AsyncSession, superuser_client: httpx.AsyncClient
) -> None:
    assert await user_count(db_session) == 1  # only the superuser this test asked for
    response = await superuser_client.post(
        "/admin/users",
        json={"username": SHARED_USERNAME, "email": "", "password": "long enough password"},
    )
    assert response.status_code == 201, response.text
    assert await user_count(db_session) == 2


async def test_the_apps_rollback_keeps_the_tests_own_rows(
    db_session: AsyncSession, client: httpx.AsyncClient
) -> None:
    survivor = await make_user(db_session, username="survivor")
    # A failed login rolls the request's session back; the test's committed rows stay.
    response = await client.post("/auth/token", data={"username": "nobody", "password": "x"})
    assert response.status_code == 401
    assert (await db_session.get(User, survivor.id)) is not None


async def test_each_request_gets_a_fresh_session(
    db_session: AsyncSession, user_client: httpx.AsyncClient, user: User
) -> None:
    first = await user_client.get("/auth/me")
    user.first_name = "Changed"
    await db_session.commit()
    second = await user_client.get("/auth/me")
    assert first.json()["first_name"] == ""
    assert second.json()["first_name"] == "Changed"


def test_the_app_serves_requests_from_the_tests_transaction(app: FastAPI) -> None:
    assert get_sessionmaker in app.dependency_overrides


@pytest.mark.committed
async def test_committed_tests_write_for_real(
    db_session: AsyncSession, db_engine: AsyncEngine
) -> None:
    await make_user(db_session, username="really-committed")
    async with db_engine.connect() as other_connection:
        seen = await other_connection.scalar(
            select(func.count()).select_from(User).where(User.username == "really-committed")
        )
    assert seen == 1


async def test_query_counter_counts_the_apps_queries(
    user_client: httpx.AsyncClient, count_queries: object
) -> None:
    with count_queries() as queries:  # type: ignore[operator]
        response = await user_client.get("/auth/me")
    assert response.status_code == 200
    assert 1 <= queries.count <= 2, str(queries)
