"""Every query the contexts domain runs."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ColumnElement, Select, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased, joinedload

from backend.contexts.schemas import Scope
from backend.core.pagination import PageParams, one_snapshot_page, read_page
from backend.core.search import LIKE_ESCAPE, folded, like_pattern
from backend.models import Context, ContextEntry, ContextMember, Role, User, Visibility

# A context with the caller's membership role in it, None when the caller is not a member.
ContextRow = tuple[Context, Role | None]


def _caller_membership(user_id: int) -> ColumnElement[bool]:
    # (context_id, user_id) is unique, so outer joining on this adds at most one row per context.
    return and_(ContextMember.context_id == Context.id, ContextMember.user_id == user_id)


def _with_caller_role(user_id: int) -> Select[Context, Role]:
    return select(Context, ContextMember.role).outerjoin(ContextMember, _caller_membership(user_id))


def _scope_filter(user_id: int, scope: Scope) -> ColumnElement[bool]:
    """Which contexts a scope covers; every scope stays within what the caller may see."""
    own = Context.owner_id == user_id
    shared = ContextMember.user_id.is_not(None)
    public = Context.visibility == Visibility.PUBLIC
    return {
        Scope.ALL: or_(own, shared, public),
        Scope.OWN: own,
        Scope.SHARED: shared,
        Scope.PUBLIC: public,
    }[scope]


def _name_filter(q: str) -> ColumnElement[bool]:
    # One SQL function on both sides rather than ILIKE (SQLite has none): folded() is lower() on
    # PostgreSQL and a registered function on SQLite that folds every script the same way.
    pattern = folded(like_pattern(q))
    return folded(Context.name).like(pattern, escape=LIKE_ESCAPE)


def _visible_filters(user_id: int, scope: Scope, q: str | None) -> list[ColumnElement[bool]]:
    filters = [_scope_filter(user_id, scope)]
    if q:
        filters.append(_name_filter(q))
    return filters


async def context_with_role(
    session: AsyncSession, *, context_id: int, user_id: int, for_update: bool = False
) -> ContextRow | None:
    """A context and the caller's role; ``for_update`` reads it afresh and locks its row."""
    query = _with_caller_role(user_id).where(Context.id == context_id)
    if for_update:
        query = query.with_for_update(of=Context).execution_options(populate_existing=True)
    row = (await session.execute(query)).one_or_none()
    return None if row is None else (row[0], row[1])


async def visible_contexts(
    session: AsyncSession, *, user_id: int, scope: Scope, q: str | None, page: PageParams
) -> tuple[list[ContextRow], int]:
    """One page of the contexts a scope covers, newest first, and how many it covers in all."""
    query = _with_caller_role(user_id).where(*_visible_filters(user_id, scope, q))
    rows, statement = one_snapshot_page(
        query, page, order_by=[Context.created_at.desc(), Context.id.desc()]
    )
    found, total = await read_page(
        session, statement.add_columns(aliased(Context, rows), rows.c.role)
    )
    return [(row[0], row[1]) for row in found], total


async def slug_taken(
    session: AsyncSession, *, owner_id: int, slug: str, except_context_id: int | None = None
) -> bool:
    query = select(Context.id).where(Context.owner_id == owner_id, Context.slug == slug)
    if except_context_id is not None:
        query = query.where(Context.id != except_context_id)
    return (await session.execute(query.limit(1))).first() is not None


async def user_by_id(session: AsyncSession, user_id: int) -> User | None:
    return await session.get(User, user_id)


async def members_of(session: AsyncSession, *, context_id: int) -> Sequence[ContextMember]:
    query = (
        select(ContextMember)
        .options(joinedload(ContextMember.user))
        .where(ContextMember.context_id == context_id)
        .order_by(ContextMember.created_at, ContextMember.id)
    )
    return (await session.execute(query)).scalars().all()


async def member(
    session: AsyncSession, *, context_id: int, user_id: int, for_update: bool = False
) -> ContextMember | None:
    """A membership; ``for_update`` reads it afresh and locks its row (see ``entry``)."""
    query = (
        select(ContextMember)
        .options(joinedload(ContextMember.user))
        .where(ContextMember.context_id == context_id, ContextMember.user_id == user_id)
    )
    if for_update:
        # Only the membership's row: the joined user is on the nullable side of an outer join.
        query = query.with_for_update(of=ContextMember).execution_options(populate_existing=True)
    return (await session.execute(query)).scalar_one_or_none()


async def entries_of(
    session: AsyncSession, *, context_id: int, page: PageParams
) -> tuple[list[ContextEntry], int]:
    """One page of a context's entries, newest first, and how many it has in all."""
    query = select(ContextEntry).where(ContextEntry.context_id == context_id)
    rows, statement = one_snapshot_page(
        query, page, order_by=[ContextEntry.created_at.desc(), ContextEntry.id.desc()]
    )
    found, total = await read_page(session, statement.add_columns(aliased(ContextEntry, rows)))
    return [row[0] for row in found], total


async def entry(
    session: AsyncSession, *, context_id: int, entry_id: int, for_update: bool = False
) -> ContextEntry | None:
    """An entry of a context; ``for_update`` reads it afresh and locks its row.

    A change or a removal locks the row it is about to write, so a concurrent removal either
    waits for the change or has already happened (then: not found), instead of the change
    finding no row to update at flush. SQLite has no row locks: there a writing unit of work
    holds the database's write lock from its start instead.
    """
    # Filtering on the context too makes an entry of another context a plain "not found".
    query = select(ContextEntry).where(
        ContextEntry.id == entry_id, ContextEntry.context_id == context_id
    )
    if for_update:
        query = query.with_for_update().execution_options(populate_existing=True)
    return (await session.execute(query)).scalar_one_or_none()
