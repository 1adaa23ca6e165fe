"""The login throttle: shared through the database, per address and username, bounded, race-proof."""

# ruff: noqa: RUF001 - look-alike letters are what some of these tests are about

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.app import create_app, reset_process_state
from backend.auth.throttle import Limits, LoginThrottle, username_key
from backend.config import Settings
from backend.models import LoginAttempt, User
from backend.models.base import utcnow
from backend.tests.factories import DEFAULT_PASSWORD, make_user


@asynccontextmanager
async def client_from(app: FastAPI, address: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client whose requests come from ``address`` (the peer address the server sees)."""
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


async def attempt(client: httpx.AsyncClient, username: str, password: str) -> int:
    response = await client.post("/auth/token", data={"username": username, "password": password})
    if response.status_code == 429:
        assert int(response.headers["Retry-After"]) > 0
    return response.status_code


async def attempts_stored(session: AsyncSession) -> int:
    return await session.scalar(select(func.count()).select_from(LoginAttempt)) or 0


async def test_the_limit_holds_across_a_restart(
    app: FastAPI, user: User, settings: Settings
) -> None:
    async with client_from(app, "10.0.0.1") as guesser:
        for _ in range(settings.login_attempts_per_minute):
            assert await attempt(guesser, user.username, "guess") == 401
        reset_process_state(app)  # what a restart leaves: nothing in memory
        assert await attempt(guesser, user.username, DEFAULT_PASSWORD) == 429


async def test_workers_share_one_limit(app: FastAPI, user: User, settings: Settings) -> None:
    # A second app instance is a second worker: it shares only the database.
    second = create_app(settings)
    second.dependency_overrides.update(app.dependency_overrides)
    async with client_from(app, "10.0.0.1") as one, client_from(second, "10.0.0.1") as two:
        for number in range(settings.login_attempts_per_minute):
            assert await attempt(one if number % 2 else two, user.username, "guess") == 401
        assert await attempt(one, user.username, "guess") == 429
        assert await attempt(two, user.username, "guess") == 429


async def test_a_guesser_does_not_lock_the_owner_out(
    app: FastAPI, user: User, settings: Settings
) -> None:
    async with client_from(app, "10.0.0.66") as guesser, client_from(app, "10.0.0.7") as owner:
        for _ in range(settings.login_attempts_per_minute):
            assert await attempt(guesser, user.username, "guess") == 401
        assert await attempt(guesser, user.username, DEFAULT_PASSWORD) == 429
        assert await attempt(owner, user.username, DEFAULT_PASSWORD) == 200


async def test_guesses_from_many_addresses_meet_the_per_username_limit(
    app: FastAPI, user: User
) -> None:
    app.state.login_throttle = LoginThrottle(Limits(per_client=3, per_username=7))
    statuses = []
    for address in range(4):
        async with client_from(app, f"10.0.1.{address}") as guesser:
            statuses += [await attempt(guesser, user.username, "guess") for _ in range(2)]
    assert statuses == [401] * 7 + [429]
    # Other usernames are not slowed by it.
    async with client_from(app, "10.0.1.9") as someone:
        assert await attempt(someone, "someone-else", "guess") == 401


async def test_a_successful_login_clears_its_addresss_failures(
    app: FastAPI, user: User, settings: Settings
) -> None:
    async with client_from(app, "10.0.0.7") as owner:
        for _ in range(settings.login_attempts_per_minute - 1):
            assert await attempt(owner, user.username, "typo") == 401
        assert await attempt(owner, user.username, DEFAULT_PASSWORD) == 200
        for _ in range(settings.login_attempts_per_minute - 1):
            assert await attempt(owner, user.username, "typo") == 401


async def test_an_oversized_username_is_refused_before_any_work(
    client: httpx.AsyncClient, db_session: AsyncSession
) -> None:
    for _ in range(3):
        response = await client.post(
            "/auth/token", data={"username": "u" * 1_000_000, "password": "guess"}
        )
        assert response.status_code == 401, response.text[:200]
    assert await attempts_stored(db_session) == 0


async def test_old_attempts_are_pruned(client: httpx.AsyncClient, db_session: AsyncSession) -> None:
    long_ago = utcnow() - timedelta(hours=2)
    db_session.add_all(
        LoginAttempt(
            username_key=username_key(f"user{n}"), client="10.9.9.9", attempted_at=long_ago
        )
        for n in range(50)
    )
    await db_session.commit()
    assert await attempt(client, "anyone", "guess") == 401
    assert await attempts_stored(db_session) == 1


async def test_every_spelling_that_reaches_an_account_counts_against_it(
    client: httpx.AsyncClient, db_session: AsyncSession, settings: Settings
) -> None:
    await make_user(db_session, username="fiona")
    spellings = ["fiona", "ﬁona", "ｆｉｏｎａ"]  # what a login normalises to "fiona" (NFKC)
    for number in range(settings.login_attempts_per_minute):
        assert await attempt(client, spellings[number % 3], "guess") == 401
    assert await attempt(client, "fiona", DEFAULT_PASSWORD) == 429


async def test_logging_into_your_own_account_does_not_reset_anothers_limit(
    client: httpx.AsyncClient, db_session: AsyncSession, settings: Settings
) -> None:
    # The attacker owns "Fiona" (another account: case tells names apart, as in Django) and
    # guesses "fiona"'s password, logging into their own account between rounds.
    await make_user(db_session, username="fiona")
    await make_user(db_session, username="Fiona", email="", password="the attacker's own password")
    statuses = []
    for round_ in range(4):
        statuses += [await attempt(client, "fiona", f"guess {round_} {n}") for n in range(9)]
        assert await attempt(client, "Fiona", "the attacker's own password") == 200
    limit = settings.login_attempts_per_minute
    assert statuses[:limit] == [401] * limit
    assert set(statuses[limit:]) == {429}, statuses


async def test_own_logins_from_many_addresses_do_not_lift_the_per_username_limit(
    app: FastAPI, db_session: AsyncSession
) -> None:
    app.state.login_throttle = LoginThrottle(Limits(per_client=3, per_username=7))
    await make_user(db_session, username="fiona")
    await make_user(db_session, username="FIONA", email="", password="the attacker's own password")
    statuses = []
    for address in range(4):
        async with client_from(app, f"10.0.2.{address}") as guesser:
            statuses += [await attempt(guesser, "fiona", "guess") for _ in range(2)]
            assert await attempt(guesser, "FIONA", "the attacker's own password") == 200
    assert statuses == [401] * 7 + [429]


@pytest.mark.committed
async def test_concurrent_guesses_cannot_pass_the_limit(
    app: FastAPI, db_session: AsyncSession, settings: Settings
) -> None:
    victim = await make_user(db_session, username="victim")
    async with client_from(app, "10.0.0.66") as guesser:
        statuses = await asyncio.gather(
            *(attempt(guesser, victim.username, f"guess {n}") for n in range(40))
        )
    assert Counter(statuses) == {
        401: settings.login_attempts_per_minute,
        429: 40 - settings.login_attempts_per_minute,
    }
