"""Every query the contexts domain runs."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Integer,
    Select,
    String,
    and_,
    bindparam,
    or_,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased, joinedload

from backend.contexts.schemas import Scope
from backend.core.pagination import PageParams, one_snapshot_page, page_values, read_page
from backend.core.search import LIKE_ESCAPE, folded, like_pattern
from backend.models import Context, ContextEntry, ContextMember, Role, User, Visibility

# A context with the caller's membership role in it, None when the caller is not a member.
ContextRow = tuple[Context, Role | None]
# The caller's id: a value, or a bound parameter in the statements built once (the listings).
CallerId = int | BindParameter[int]
# The bound parameters of the listings' statements, besides the page's.
CALLER_ID, NAME_PATTERN, CONTEXT_ID = "caller_id", "name_pattern", "listed_context_id"


def _caller_membership(user_id: CallerId) -> ColumnElement[bool]:
    # (context_id, user_id) is unique, so outer joining on this adds at most one row per context.
    return and_(ContextMember.context_id == Context.id, ContextMember.user_id == user_id)


def _with_caller_role(user_id: CallerId) -> Select[Context, Role]:
    return select(Context, ContextMember.role).outerjoin(ContextMember, _caller_membership(user_id))


def _scope_filter(user_id: CallerId, scope: Scope) -> ColumnElement[bool]:
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


def _name_filter(pattern: ColumnElement[str]) -> ColumnElement[bool]:
    # One SQL function on both sides rather than ILIKE (SQLite has none): folded() is lower() on
    # PostgreSQL and a registered function on SQLite that folds every script the same way.
    return folded(Context.name).like(folded(pattern), escape=LIKE_ESCAPE)


@functools.cache
def _visible_contexts_page(scope: Scope, searched: bool) -> Select[Any]:
    """The page statement of one shape of the listing, built once (see ``one_snapshot_page``):
    the caller, the name pattern and the page are its bound parameters."""
    caller = bindparam(CALLER_ID, type_=Integer)
    filters = [_scope_filter(caller, scope)]
    if searched:
        filters.append(_name_filter(bindparam(NAME_PATTERN, type_=String)))
    rows, statement = one_snapshot_page(
        _with_caller_role(caller).where(*filters),
        order_by=[Context.created_at.desc(), Context.id.desc()],
    )
    return statement.add_columns(aliased(Context, rows), rows.c.role)


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
    values: dict[str, Any] = {CALLER_ID: user_id, **page_values(page)}
    if q:
        values[NAME_PATTERN] = like_pattern(q)
    found, total = await read_page(session, _visible_contexts_page(scope, bool(q)), values)
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


@functools.cache
def _entries_page() -> Select[Any]:
    """The page statement of a context's entries, built once: the context and the page are its
    bound parameters."""
    rows, statement = one_snapshot_page(
        select(ContextEntry).where(ContextEntry.context_id == bindparam(CONTEXT_ID, type_=Integer)),
        order_by=[ContextEntry.created_at.desc(), ContextEntry.id.desc()],
    )
    return statement.add_columns(aliased(ContextEntry, rows))


async def entries_of(
    session: AsyncSession, *, context_id: int, page: PageParams
) -> tuple[list[ContextEntry], int]:
    """One page of a context's entries, newest first, and how many it has in all."""
    values = {CONTEXT_ID: context_id, **page_values(page)}
    found, total = await read_page(session, _entries_page(), values)
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
