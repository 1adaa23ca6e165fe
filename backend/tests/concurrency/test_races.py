"""Each check-then-write in the services, raced by concurrent requests: one answer, no 500."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from pytest_dbharness.fixtures.live_server import LiveServer
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.models import Context, ContextEntry, ContextMember, Role, User
from backend.tests.factories import make_context, make_entry, make_member, make_user
from backend.tests.fixtures.live import live_client

AT_ONCE = 4
TRIES = 8


async def _same_request_at_once(
    client: httpx.AsyncClient, method: str, path: str, body: dict[str, Any]
) -> list[int]:
    responses = await asyncio.gather(
        *(client.request(method, path, json=body) for _ in range(AT_ONCE))
    )
    return sorted(response.status_code for response in responses)


async def _rows(db_session: AsyncSession, model: type[Any], *conditions: Any) -> int:
    query = select(func.count()).select_from(model).where(*conditions)
    return (await db_session.execute(query)).scalar_one()


async def test_one_slug_claimed_at_once_by_many_requests_is_created_once(
    db_session: AsyncSession, live_server: LiveServer
) -> None:
    owner = await make_user(db_session)
    async with live_client(live_server, owner) as client:
        body = {"name": "Notes", "slug": "notes"}
        statuses = await _same_request_at_once(client, "POST", "/contexts", body)

    assert statuses == [201] + [409] * (AT_ONCE - 1)
    assert await _rows(db_session, Context, Context.slug == "notes") == 1


async def test_one_slug_taken_at_once_by_renames_of_many_contexts_goes_to_one(
    db_session: AsyncSession, live_server: LiveServer
) -> None:
    owner = await make_user(db_session)
    contexts = [await make_context(db_session, owner=owner) for _ in range(AT_ONCE)]
    async with live_client(live_server, owner) as client:
        responses = await asyncio.gather(
            *(client.patch(f"/contexts/{c.id}", json={"slug": "taken"}) for c in contexts)
        )

    assert sorted(r.status_code for r in responses) == [200] + [409] * (AT_ONCE - 1)
    assert await _rows(db_session, Context, Context.slug == "taken") == 1


async def test_one_member_added_at_once_by_many_requests_is_added_once(
    db_session: AsyncSession, live_server: LiveServer
) -> None:
    context = await make_context(db_session)
    owner = await db_session.get(User, context.owner_id)
    newcomer = await make_user(db_session)
    assert owner is not None
    async with live_client(live_server, owner) as client:
        body = {"user_id": newcomer.id, "role": "editor"}
        statuses = await _same_request_at_once(
            client, "POST", f"/contexts/{context.id}/members", body
        )

    assert statuses == [201] + [409] * (AT_ONCE - 1)
    assert await _rows(db_session, ContextMember, ContextMember.user_id == newcomer.id) == 1


async def test_one_username_created_at_once_by_many_requests_is_created_once(
    db_session: AsyncSession, live_server: LiveServer
) -> None:
    root = await make_user(db_session, is_staff=True, is_superuser=True)
    async with live_client(live_server, root) as client:
        body = {"username": "twin", "email": "twin@example.com", "password": "long enough pw"}
        statuses = await _same_request_at_once(client, "POST", "/admin/users", body)

    assert statuses == [201] + [409] * (AT_ONCE - 1)
    assert await _rows(db_session, User, User.username == "twin") == 1


# Either order is fine; what must not happen is a 500 from an update that found no row.
EDIT_THEN_DELETE_OR_404 = {(200, 204), (404, 204)}


async def _edits_racing_deletions(
    db_session: AsyncSession,
    live_server: LiveServer,
    owner: User,
    make_target: Callable[[], Awaitable[tuple[str, object]]],
    change: dict[str, Any],
) -> set[tuple[int, int]]:
    """PATCH and DELETE one new target at once, TRIES times; the (PATCH, DELETE) statuses seen."""
    outcomes = set()
    async with live_client(live_server, owner) as client:
        for _ in range(TRIES):
            path, target = await make_target()
            db_session.expunge(target)  # a fresh object per try: the last one was deleted
            changed, removed = await asyncio.gather(
                client.patch(path, json=change), client.delete(path)
            )
            outcomes.add((changed.status_code, removed.status_code))
    return outcomes


async def test_a_role_change_racing_the_members_removal_is_a_change_then_a_removal_or_a_404(
    db_session: AsyncSession, live_server: LiveServer
) -> None:
    context = await make_context(db_session)
    owner = await db_session.get(User, context.owner_id)
    assert owner is not None

    async def new_member() -> tuple[str, object]:
        member = await make_member(db_session, context=context, role=Role.VIEWER)
        return f"/contexts/{context.id}/members/{member.user_id}", member

    outcomes = await _edits_racing_deletions(
        db_session, live_server, owner, new_member, {"role": "editor"}
    )
    assert outcomes <= EDIT_THEN_DELETE_OR_404, outcomes
    assert await _rows(db_session, ContextMember) == 0


async def test_an_entry_edit_racing_its_deletion_is_an_edit_then_a_deletion_or_a_404(
    db_session: AsyncSession, live_server: LiveServer
) -> None:
    context = await make_context(db_session)
    owner = await db_session.get(User, context.owner_id)
    assert owner is not None

    async def new_entry() -> tuple[str, object]:
        entry = await make_entry(db_session, context=context)
        return f"/contexts/{context.id}/entries/{entry.id}", entry

    outcomes = await _edits_racing_deletions(
        db_session, live_server, owner, new_entry, {"title": "edited"}
    )
    assert outcomes <= EDIT_THEN_DELETE_OR_404, outcomes
    assert await _rows(db_session, ContextEntry) == 0


async def test_a_context_edit_racing_its_deletion_is_an_edit_then_a_deletion_or_a_404(
    db_session: AsyncSession, live_server: LiveServer
) -> None:
    owner = await make_user(db_session)

    async def new_context() -> tuple[str, object]:
        context = await make_context(db_session, owner=owner)
        return f"/contexts/{context.id}", context

    outcomes = await _edits_racing_deletions(
        db_session, live_server, owner, new_context, {"name": "renamed"}
    )
    assert outcomes <= EDIT_THEN_DELETE_OR_404, outcomes
    assert await _rows(db_session, Context) == 0
