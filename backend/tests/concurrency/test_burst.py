"""Many concurrent clients against a real server: nothing fails, nothing acknowledged is lost."""

from __future__ import annotations

from collections.abc import Callable

from pytest_dbharness.fixtures.live_server import LiveServer
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.bench.load.traffic import Actor, missing_rows, run_mixed
from backend.models import Context, ContextEntry
from backend.tests.factories import make_context, make_user
from backend.tests.fixtures.live import bearer

CLIENTS = 15
REQUESTS = 150


async def _actors(db_session: AsyncSession, live_server: LiveServer) -> list[Actor]:
    actors = []
    for name in ("ana", "ben", "cho"):
        user = await make_user(db_session, username=name)
        home = await make_context(db_session, owner=user)
        token = bearer(user)["Authorization"].removeprefix("Bearer ")
        actors.append(Actor(username=name, token=token, home_context=home.id))
    return actors


async def _count(db_session: AsyncSession, model: type[Context] | type[ContextEntry]) -> int:
    return (await db_session.execute(select(func.count()).select_from(model))).scalar_one()


async def test_a_burst_of_mixed_writes_and_reads_all_succeed_and_are_listed_back(
    db_session: AsyncSession, live_server: LiveServer
) -> None:
    actors = await _actors(db_session, live_server)

    tally = await run_mixed(
        live_server.url, actors, clients=CLIENTS, requests=REQUESTS, max_seconds=60
    )

    assert tally.dropped == 0, tally.errors
    assert tally.count(500, 600) == 0, tally.statuses
    assert tally.count(200, 300) == REQUESTS, tally.statuses
    assert await missing_rows(live_server.url, actors, tally) == 0
    created_contexts = sum(len(ids) for ids in tally.created_contexts.values())
    created_entries = sum(len(ids) for ids in tally.created_entries.values())
    assert created_contexts == REQUESTS // 6
    assert created_entries == REQUESTS // 3
    assert await _count(db_session, Context) == len(actors) + created_contexts
    assert await _count(db_session, ContextEntry) == created_entries


async def test_backend_serve_with_two_workers_serves_a_burst_without_a_failure(
    db_session: AsyncSession, live_server_process: Callable[[int], LiveServer]
) -> None:
    server = live_server_process(2)
    actors = await _actors(db_session, server)

    tally = await run_mixed(server.url, actors, clients=10, requests=60, max_seconds=60)

    assert tally.dropped == 0, tally.errors
    assert tally.count(200, 300) == 60, tally.statuses
    assert await missing_rows(server.url, actors, tally) == 0
