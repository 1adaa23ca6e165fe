"""Every query the admin domain runs (single-user lookups are the auth domain's)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.admin.schemas import UserFilters
from backend.core.pagination import PageParams
from backend.core.search import LIKE_ESCAPE, folded, like_pattern
from backend.models import User


def _conditions(filters: UserFilters) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if filters.q:
        # One SQL function on both sides rather than ILIKE: SQLite has no ILIKE and PostgreSQL's
        # LIKE is case-sensitive. folded() is lower() on PostgreSQL and, on SQLite, a registered
        # function that folds non-ASCII letters as PostgreSQL does (SQLite's lower() is ASCII-only).
        pattern = folded(like_pattern(filters.q))
        columns = (User.username, User.email, User.first_name, User.last_name)
        conditions.append(
            or_(*(folded(column).like(pattern, escape=LIKE_ESCAPE) for column in columns))
        )
    if filters.is_active is not None:
        conditions.append(User.is_active == filters.is_active)
    if filters.is_staff is not None:
        conditions.append(User.is_staff == filters.is_staff)
    return conditions


async def search_users(
    session: AsyncSession, filters: UserFilters, page: PageParams
) -> Sequence[User]:
    query = (
        select(User)
        .where(*_conditions(filters))
        .order_by(User.username)
        .offset(page.offset)
        .limit(page.page_size)
    )
    return (await session.execute(query)).scalars().all()


async def count_users(session: AsyncSession, filters: UserFilters) -> int:
    query = select(func.count()).select_from(User).where(*_conditions(filters))
    return (await session.execute(query)).scalar_one()
