"""The mixed workload: concurrent HTTP clients creating contexts and entries and reading them back."""

from __future__ import annotations

import asyncio
import itertools
import secrets
import time
from dataclasses import dataclass, field

import httpx

# Of every 6 requests: 1 creates a context, 2 create entries, 3 read (two lists, one entry list).
MIX = (
    "create_context",
    "create_entry",
    "create_entry",
    "list_contexts",
    "list_contexts",
    "list_entries",
)
TIMEOUT_SECONDS = 30.0


def _client(base_url: str) -> httpx.AsyncClient:
    # Plain HTTP on 127.0.0.1: without verify=False httpx builds a TLS context per client that it
    # never uses (about 35 ms each here).
    return httpx.AsyncClient(base_url=base_url, timeout=TIMEOUT_SECONDS, verify=False)  # noqa: S501


@dataclass
class Actor:
    """One of the workload's users: its token and the context its entries go to."""

    username: str
    token: str
    home_context: int


@dataclass
class Tally:
    """What the clients saw, and which rows the server acknowledged creating."""

    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    dropped: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    created_contexts: dict[str, set[int]] = field(default_factory=dict)
    created_entries: dict[int, set[int]] = field(default_factory=dict)
    seconds: float = 0.0
    # Names new contexts, so that runs on the same database never collide on a slug.
    run: str = field(default_factory=lambda: secrets.token_hex(4))

    def count(self, low: int, high: int) -> int:
        return sum(n for status, n in self.statuses.items() if low <= status < high)


async def _one(
    client: httpx.AsyncClient, actor: Actor, kind: str, number: int, tally: Tally
) -> None:
    headers = {"Authorization": f"Bearer {actor.token}"}
    home = actor.home_context
    started = time.perf_counter()
    try:
        if kind == "create_context":
            body = {"name": f"load {tally.run} {number}"}
            response = await client.post("/contexts", json=body, headers=headers)
        elif kind == "create_entry":
            body = {"title": f"entry {number}", "body": "load"}
            response = await client.post(f"/contexts/{home}/entries", json=body, headers=headers)
        elif kind == "list_contexts":
            response = await client.get("/contexts", headers=headers)
        else:
            response = await client.get(f"/contexts/{home}/entries", headers=headers)
    except httpx.TransportError as error:
        tally.dropped += 1
        tally.errors[type(error).__name__] = tally.errors.get(type(error).__name__, 0) + 1
        return
    tally.latencies.append(time.perf_counter() - started)
    tally.statuses[response.status_code] = tally.statuses.get(response.status_code, 0) + 1
    if response.status_code == 201 and kind == "create_context":
        tally.created_contexts.setdefault(actor.username, set()).add(response.json()["id"])
    elif response.status_code == 201:
        tally.created_entries.setdefault(home, set()).add(response.json()["id"])


async def run_mixed(
    base_url: str, actors: list[Actor], *, clients: int, requests: int, max_seconds: float
) -> Tally:
    """``requests`` requests spread over ``clients`` concurrent keep-alive clients.

    Bounded in count and in time: no request starts after ``max_seconds``.
    """
    tally = Tally()
    numbers = itertools.count()
    started = time.perf_counter()
    deadline = started + max_seconds

    async def client_loop(index: int) -> None:
        actor = actors[index % len(actors)]
        async with _client(base_url) as client:
            while (number := next(numbers)) < requests and time.perf_counter() < deadline:
                await _one(client, actor, MIX[number % len(MIX)], number, tally)

    await asyncio.gather(*(client_loop(index) for index in range(clients)))
    tally.seconds = time.perf_counter() - started
    return tally


async def _all_pages(client: httpx.AsyncClient, path: str, token: str) -> set[int]:
    found: set[int] = set()
    page, items = 1, [None] * 100
    while len(items) == 100:
        params: dict[str, str | int] = {"page": page, "page_size": 100}
        if path == "/contexts":
            params["scope"] = "own"
        response = await client.get(
            path, params=params, headers={"Authorization": f"Bearer {token}"}
        )
        response.raise_for_status()
        items = response.json()["items"]
        found |= {item["id"] for item in items}
        page += 1
    return found


async def missing_rows(base_url: str, actors: list[Actor], tally: Tally) -> int:
    """How many acknowledged (201) rows the API does not list back."""
    missing = 0
    async with _client(base_url) as client:
        for actor in actors:
            listed = await _all_pages(client, "/contexts", actor.token)
            missing += len(tally.created_contexts.get(actor.username, set()) - listed)
            entries = await _all_pages(
                client, f"/contexts/{actor.home_context}/entries", actor.token
            )
            missing += len(tally.created_entries.get(actor.home_context, set()) - entries)
    return missing


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]
