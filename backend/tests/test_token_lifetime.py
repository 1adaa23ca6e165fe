"""Tokens die with what they stand for: deletion, id reuse, and (below) account changes."""

from __future__ import annotations

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from backend.tests.factories import make_user
from backend.tests.fixtures.clients import ClientFor


async def test_a_deleted_users_token_does_not_pass_to_the_next_user_created(
    client_for: ClientFor, db_session: AsyncSession
) -> None:
    # The newest user is deleted: SQLite without AUTOINCREMENT gave its id to the next insert.
    doomed = await make_user(db_session, username="doomed")
    old_id = doomed.id
    authenticated = await client_for(doomed)
    await db_session.delete(doomed)
    await db_session.commit()
    successor = await make_user(db_session, username="successor")
    assert successor.id != old_id
    response = await authenticated.get("/auth/me")
    assert response.status_code == 401, response.text


async def test_every_table_takes_a_fresh_id_after_the_newest_row_is_deleted(
    client: httpx.AsyncClient, db_session: AsyncSession
) -> None:
    first = await make_user(db_session)
    first_id = first.id
    await db_session.delete(first)
    await db_session.commit()
    assert (await make_user(db_session)).id > first_id
