"""Every query the auth domain runs."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.models import User


async def user_by_id(session: AsyncSession, user_id: int) -> User | None:
    return await session.get(User, user_id)


async def user_by_username(session: AsyncSession, username: str) -> User | None:
    result = await session.execute(select(User).where(User.username == username))
    return result.scalar_one_or_none()


async def email_taken(
    session: AsyncSession, email: str, *, except_user_id: int | None = None
) -> bool:
    query = select(User.id).where(func.lower(User.email) == email.lower(), User.email != "")
    if except_user_id is not None:
        query = query.where(User.id != except_user_id)
    return (await session.execute(query.limit(1))).first() is not None
