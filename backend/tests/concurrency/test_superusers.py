"""There is always an active superuser, even when two of them remove each other at once."""

from __future__ import annotations

import asyncio

import pytest
from pytest_dbharness.fixtures.live_server import LiveServer
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from backend.models import User
from backend.tests.factories import make_user
from backend.tests.fixtures.live import live_client

TRIES = 20
WON = {200, 204}
# The loser is refused: 401 when it ran after the winner (its own account was already gone or
# inactive when its token was checked), 403 when it ran alongside and lost the lock.
REFUSED = {401, 403}
REMOVALS = {
    "deactivate": ("POST", "/admin/users/{}/deactivate"),
    "delete": ("DELETE", "/admin/users/{}"),
}


async def _only_superusers(db_session: AsyncSession, count: int, prefix: str) -> list[User]:
    """``count`` new superusers, and no other (earlier tries' superusers are demoted)."""
    await db_session.execute(update(User).values(is_superuser=False))
    await db_session.commit()
    # SQLite reuses a deleted user's id: forget the earlier tries' objects.
    db_session.expunge_all()
    return [
        await make_user(db_session, username=f"{prefix}{n}", is_staff=True, is_superuser=True)
        for n in range(count)
    ]


async def _active_superusers(db_session: AsyncSession) -> int:
    query = select(func.count()).where(User.is_superuser.is_(True), User.is_active.is_(True))
    return (await db_session.execute(query)).scalar_one()


async def _at_once(
    live_server: LiveServer, method: str, requests: list[tuple[User, str]]
) -> list[int]:
    async def send(actor: User, path: str) -> int:
        async with live_client(live_server, actor) as client:
            return (await client.request(method, path)).status_code

    return list(await asyncio.gather(*(send(actor, path) for actor, path in requests)))


@pytest.mark.parametrize("removal", sorted(REMOVALS))
async def test_two_superusers_removing_each_other_at_once_leave_one_active(
    db_session: AsyncSession, live_server: LiveServer, removal: str
) -> None:
    method, path = REMOVALS[removal]
    for attempt in range(TRIES):
        one, two = await _only_superusers(db_session, 2, prefix=f"{removal}{attempt}-")

        statuses = await _at_once(
            live_server, method, [(one, path.format(two.id)), (two, path.format(one.id))]
        )

        assert await _active_superusers(db_session) == 1, f"try {attempt}: {statuses}"
        assert len(set(statuses) & WON) == 1, f"try {attempt}: {statuses}"
        assert set(statuses) - WON <= REFUSED, f"try {attempt}: {statuses}"
