"""A listing's ``total`` and its items come from one snapshot, while other requests write.

The requests go to a real ``backend serve`` process, as in production: its requests run beside
this process's clients on the other core, not under one interpreter lock with them (which made
each page wait on the writers' clients as much as on the database).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from backend.models import Visibility
from backend.tests.factories import make_context, make_entry, make_user
from backend.tests.fixtures.live import (
    ServedProcess,
    ServedProcesses,
    launched_for_module,
    live_client,
    served_ahead,
)

PAGE_SIZE = 3
READS = 60
WRITERS = 2

# Its server starts (a second of imports) at a serial run's first test (fixtures/head_start.py).
HEAD_START = {"pages pages_server": served_ahead("pages_server", 1)}


@pytest.fixture(scope="module")
def pages_server(
    request: pytest.FixtureRequest, live_server_processes: ServedProcesses
) -> ServedProcess:
    """A real ``backend serve`` with one worker, shared by the module's tests (on the committed
    path: what they write is emptied after each)."""
    launched = launched_for_module(
        request, live_server_processes, {"pages_server": (1, {})}, "pages "
    )
    return (launched.get("pages_server") or live_server_processes.launch(1)).ready()


def disagreements(pages: list[tuple[int, httpx.Response]]) -> list[str]:
    """Pages whose item count is not what their total says a page there holds."""
    found = []
    for page, response in pages:
        assert response.status_code == 200, response.text
        body = response.json()
        expected = max(0, min(PAGE_SIZE, body["total"] - (page - 1) * PAGE_SIZE))
        if len(body["items"]) != expected:
            found.append(f"page {page}: total {body['total']}, {len(body['items'])} items")
    return found


async def read_while_writing(
    reader: httpx.AsyncClient,
    path: str,
    write: Callable[[int], Awaitable[None]],
    filters: dict[str, str] | None = None,
) -> list[str]:
    """Read pages 1 to 3 of ``path`` READS times while WRITERS tasks call ``write`` in a loop."""
    done = asyncio.Event()

    async def writer(number: int) -> None:
        while not done.is_set():
            await write(number)

    async def read() -> list[tuple[int, httpx.Response]]:
        try:
            pages = []
            for n in range(READS):
                page = n % 3 + 1
                params = {"page": page, "page_size": PAGE_SIZE, **(filters or {})}
                pages.append((page, await reader.get(path, params=params)))
            return pages
        finally:
            done.set()

    writers = [asyncio.create_task(writer(number)) for number in range(WRITERS)]
    pages = await read()
    await asyncio.gather(*writers)
    return disagreements(pages)


async def test_context_pages_agree_with_their_total_under_writes(
    db_session: AsyncSession, pages_server: ServedProcess
) -> None:
    owner = await make_user(db_session)
    for _ in range(4):
        await make_context(db_session, owner=owner, visibility=Visibility.PUBLIC)
    async with live_client(pages_server, owner) as client:

        async def create_and_delete(number: int) -> None:
            created = await client.post("/contexts", json={"name": f"churn {number}"})
            assert created.status_code == 201, created.text
            deleted = await client.delete(f"/contexts/{created.json()['id']}")
            assert deleted.status_code == 204, deleted.text

        assert await read_while_writing(client, "/contexts", create_and_delete) == []


async def test_entry_pages_agree_with_their_total_under_writes(
    db_session: AsyncSession, pages_server: ServedProcess
) -> None:
    owner = await make_user(db_session)
    context = await make_context(db_session, owner=owner)
    for _ in range(4):
        await make_entry(db_session, context=context)
    async with live_client(pages_server, owner) as client:
        entries = f"/contexts/{context.id}/entries"

        async def create_and_delete(number: int) -> None:
            created = await client.post(entries, json={"title": f"churn {number}"})
            assert created.status_code == 201, created.text
            deleted = await client.delete(f"{entries}/{created.json()['id']}")
            assert deleted.status_code == 204, deleted.text

        assert await read_while_writing(client, entries, create_and_delete) == []


async def test_user_pages_agree_with_their_total_under_writes(
    db_session: AsyncSession, pages_server: ServedProcess
) -> None:
    staff = await make_user(db_session, is_staff=True)
    toggled = [await make_user(db_session) for _ in range(WRITERS)]
    async with live_client(pages_server, staff) as client:

        async def deactivate_and_activate(number: int) -> None:
            for action in ("deactivate", "activate"):
                response = await client.post(f"/admin/users/{toggled[number].id}/{action}")
                assert response.status_code == 200, response.text

        active = {"is_active": "true"}
        assert (
            await read_while_writing(client, "/admin/users", deactivate_and_activate, active) == []
        )
