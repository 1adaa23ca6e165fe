"""Every query the admin domain runs (single-user lookups are the auth domain's)."""

from __future__ import annotations

import functools
from typing import Any

from sqlalchemy import Boolean, ColumnElement, Select, String, bindparam, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from backend.admin.schemas import UserFilters
from backend.core.pagination import PageParams, one_snapshot_page, page_values, read_page
from backend.core.search import LIKE_ESCAPE, folded, like_pattern
from backend.models import User

# The bound parameters of the listing's statements, besides the page's.
SEARCH_PATTERN, IS_ACTIVE, IS_STAFF = "search_pattern", "is_active", "is_staff"


@functools.cache
def _users_page(searched: bool, by_activity: bool, by_staff: bool) -> Select[Any]:
    """The page statement of one combination of filters, built once (see ``one_snapshot_page``):
    the filters' values and the page are its bound parameters."""
    conditions: list[ColumnElement[bool]] = []
    if searched:
        # One SQL function on both sides rather than ILIKE: SQLite has no ILIKE and PostgreSQL's
        # LIKE is case-sensitive. folded() is lower() on PostgreSQL and, on SQLite, a registered
        # function that folds non-ASCII letters as PostgreSQL does (SQLite's lower() is ASCII-only).
        pattern = folded(bindparam(SEARCH_PATTERN, type_=String))
        columns = (User.username, User.email, User.first_name, User.last_name)
        conditions.append(
            or_(*(folded(column).like(pattern, escape=LIKE_ESCAPE) for column in columns))
        )
    if by_activity:
        conditions.append(User.is_active == bindparam(IS_ACTIVE, type_=Boolean))
    if by_staff:
        conditions.append(User.is_staff == bindparam(IS_STAFF, type_=Boolean))
    rows, statement = one_snapshot_page(select(User).where(*conditions), order_by=[User.username])
    return statement.add_columns(aliased(User, rows))


async def search_users(
    session: AsyncSession, filters: UserFilters, page: PageParams
) -> tuple[list[User], int]:
    """One page of the matching users by username, and how many match in all."""
    values: dict[str, Any] = page_values(page)
    if filters.q:
        values[SEARCH_PATTERN] = like_pattern(filters.q)
    if filters.is_active is not None:
        values[IS_ACTIVE] = filters.is_active
    if filters.is_staff is not None:
        values[IS_STAFF] = filters.is_staff
    statement = _users_page(SEARCH_PATTERN in values, IS_ACTIVE in values, IS_STAFF in values)
    found, total = await read_page(session, statement, values)
    return [row[0] for row in found], total


async def lock_active_superusers(session: AsyncSession) -> set[int]:
    """The active superusers' ids, their rows locked until the transaction ends.

    Locked in id order, so two transactions never wait on each other in a cycle. A transaction
    that waited sees the rows as the other one committed them (PostgreSQL re-checks the
    condition), so a superuser deactivated meanwhile is no longer in the set. SQLite has no row
    locks: a writing unit of work holds the database's write lock from its start instead.
    """
    query = (
        select(User.id)
        .where(User.is_superuser.is_(True), User.is_active.is_(True))
        .order_by(User.id)
        .with_for_update()
    )
    return set((await session.execute(query)).scalars())


async def lock_user(session: AsyncSession, user_id: int) -> User | None:
    """A user read afresh with its row locked, for a change that depends on what it holds now."""
    query = (
        select(User)
        .where(User.id == user_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return (await session.execute(query)).scalar_one_or_none()
