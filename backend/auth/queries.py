"""Every query the auth domain runs."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.core.identities import email_key, normalize_username
from backend.core.search import folded
from backend.models import User


async def user_by_id(session: AsyncSession, user_id: int) -> User | None:
    return await session.get(User, user_id)


async def user_by_username(session: AsyncSession, username: str) -> User | None:
    """The account a typed username names: its NFKC form, compared exactly (as Django does)."""
    query = select(User).where(User.username == normalize_username(username))
    return (await session.execute(query)).scalar_one_or_none()


async def email_taken(
    session: AsyncSession, email: str, *, except_user_id: int | None = None
) -> bool:
    # folded() is lower() on PostgreSQL (the unique index's expression, so the index serves this)
    # and, on SQLite, a function folding every script as lower() does there: SQLite's own lower(),
    # which its index uses, folds ASCII only. SQLite writers hold the write lock from their first
    # statement, so this check and the insert after it cannot be raced there.
    query = select(User.id).where(folded(User.email) == email_key(email), User.email != "")
    if except_user_id is not None:
        query = query.where(User.id != except_user_id)
    return (await session.execute(query.limit(1))).first() is not None
