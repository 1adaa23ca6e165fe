"""Many concurrent clients against a real server: nothing fails, nothing acknowledged is lost."""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter

import httpx
import pytest
from pytest_dbharness.fixtures.live_server import LiveServer
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.models import Context, ContextEntry, User
from backend.tests.factories import make_context, make_user
from backend.tests.fixtures.live import (
    Launched,
    ServedProcess,
    ServedProcesses,
    launched_for_module,
    live_client,
    served_ahead,
)

CLIENTS = 15
REQUESTS = 150


class Burst:
    """``requests`` requests from ``clients`` concurrent clients, each one user's: of every six,
    one creates a context, two create entries in the user's context and three read."""

    def __init__(self, server: LiveServer, homes: dict[int, tuple[User, int]]) -> None:
        self.server, self.homes = server, homes
        self.statuses: Counter[int] = Counter()
        self.created: dict[str, set[int]] = {"contexts": set(), "entries": set()}

    async def run(self, *, clients: int, requests: int) -> None:
        numbers = itertools.count()
        users = list(self.homes.values())

        async def client_loop(index: int) -> None:
            user, home = users[index % len(users)]
            async with live_client(self.server, user) as client:
                while (number := next(numbers)) < requests:
                    await self._one(client, home, number)

        await asyncio.gather(*(client_loop(index) for index in range(clients)))

    async def _one(self, client: httpx.AsyncClient, home: int, number: int) -> None:
        kind = number % 6
        if kind == 0:
            response = await client.post("/contexts", json={"name": f"burst {number}"})
        elif kind in (1, 2):
            response = await client.post(f"/contexts/{home}/entries", json={"title": f"e{number}"})
        else:
            response = await client.get("/contexts" if kind < 5 else f"/contexts/{home}/entries")
        self.statuses[response.status_code] += 1
        if response.status_code == 201:
            self.created["contexts" if kind == 0 else "entries"].add(response.json()["id"])

    async def missing(self) -> int:
        """Acknowledged rows the API does not list back."""
        listed: dict[str, set[int]] = {"contexts": set(), "entries": set()}
        for user, home in self.homes.values():
            async with live_client(self.server, user) as client:
                for kind, path, params in (
                    ("contexts", "/contexts", {"scope": "own"}),
                    ("entries", f"/contexts/{home}/entries", {}),
                ):
                    response = await client.get(path, params={"page_size": 100, **params})
                    listed[kind] |= {item["id"] for item in response.json()["items"]}
        return sum(len(self.created[kind] - listed[kind]) for kind in listed)


async def _homes(db_session: AsyncSession) -> dict[int, tuple[User, int]]:
    homes = {}
    for name in ("ana", "ben", "cho"):
        user = await make_user(db_session, username=name)
        homes[user.id] = (user, (await make_context(db_session, owner=user)).id)
    return homes


async def _count(db_session: AsyncSession, model: type[Context] | type[ContextEntry]) -> int:
    return (await db_session.execute(select(func.count()).select_from(model))).scalar_one()


async def test_a_burst_of_mixed_writes_and_reads_all_succeed_and_are_listed_back(
    db_session: AsyncSession, live_server: LiveServer
) -> None:
    burst = Burst(live_server, await _homes(db_session))

    await burst.run(clients=CLIENTS, requests=REQUESTS)

    assert sum(burst.statuses.values()) == REQUESTS
    assert all(200 <= status < 300 for status in burst.statuses), burst.statuses
    assert await burst.missing() == 0
    assert len(burst.created["contexts"]) == REQUESTS // 6
    assert len(burst.created["entries"]) == REQUESTS // 3
    assert await _count(db_session, Context) == 3 + len(burst.created["contexts"])
    assert await _count(db_session, ContextEntry) == len(burst.created["entries"])


# Its three processes start (about three seconds) at a serial run's first test, long before this
# module's (fixtures/head_start.py).
HEAD_START = {"burst two_workers": served_ahead("two_workers", 2)}


@pytest.fixture(scope="module", autouse=True)
def _launched(
    request: pytest.FixtureRequest, live_server_processes: ServedProcesses
) -> dict[str, Launched]:
    """``backend serve --workers 2`` when this run has its test: started ahead of the run, or at
    the module's start, while the other burst runs."""
    return launched_for_module(request, live_server_processes, {"two_workers": (2, {})}, "burst ")


@pytest.fixture(scope="module")
def two_workers(
    _launched: dict[str, Launched], live_server_processes: ServedProcesses
) -> ServedProcess:
    """A real ``backend serve --workers 2`` (on the committed path: what it writes is emptied
    after each test)."""
    return (_launched.get("two_workers") or live_server_processes.launch(2)).ready()


async def test_backend_serve_with_two_workers_serves_a_burst_without_a_failure(
    db_session: AsyncSession, two_workers: ServedProcess
) -> None:
    burst = Burst(two_workers, await _homes(db_session))

    await burst.run(clients=10, requests=60)

    assert all(200 <= status < 300 for status in burst.statuses), burst.statuses
    assert sum(burst.statuses.values()) == 60
    assert await burst.missing() == 0
