"""Every query the contexts domain runs.

Each statement is built once, for each shape it takes (a scope, a search or not, a lock or not),
with what varies between requests as bound parameters: building one anew for every request, with
its cache key and its result's column map, cost about as much as running it, and twice as much
for a listing (see ``one_snapshot_page``).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Integer, Select, String, and_, bindparam, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased, joinedload
from sqlalchemy.sql.elements import BindParameter

from backend.contexts.schemas import Scope
from backend.core.pagination import PageParams, one_snapshot_page, page_values, read_page
from backend.core.search import LIKE_ESCAPE, folded, like_pattern
from backend.models import Context, ContextEntry, ContextMember, Role, User, Visibility

# A context with the caller's membership role in it, None when the caller is not a member.
ContextRow = tuple[Context, Role | None]

# The statements' bound parameters.
CALLER_ID, CONTEXT_ID, ENTRY_ID, MEMBER_ID = "caller_id", "context_id", "entry_id", "member_id"
OWNER_ID, SLUG, NAME_PATTERN = "owner_id", "slug", "name_pattern"


def _bound_id(name: str) -> BindParameter[int]:
    return bindparam(name, type_=Integer)


def _caller_membership(caller: BindParameter[int]) -> ColumnElement[bool]:
    # (context_id, user_id) is unique, so outer joining on this adds at most one row per context.
    return and_(ContextMember.context_id == Context.id, ContextMember.user_id == caller)


def _with_caller_role(caller: BindParameter[int]) -> Select[Context, Role]:
    return select(Context, ContextMember.role).outerjoin(ContextMember, _caller_membership(caller))


def _scope_filter(caller: BindParameter[int], scope: Scope) -> ColumnElement[bool]:
    """Which contexts a scope covers; every scope stays within what the caller may see."""
    own = Context.owner_id == caller
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
def _context_with_role(for_update: bool) -> Select[Context, Role]:
    query = _with_caller_role(_bound_id(CALLER_ID)).where(Context.id == _bound_id(CONTEXT_ID))
    if for_update:
        query = query.with_for_update(of=Context).execution_options(populate_existing=True)
    return query


async def context_with_role(
    session: AsyncSession, *, context_id: int, user_id: int, for_update: bool = False
) -> ContextRow | None:
    """A context and the caller's role; ``for_update`` reads it afresh and locks its row."""
    values = {CALLER_ID: user_id, CONTEXT_ID: context_id}
    row = (await session.execute(_context_with_role(for_update), values)).one_or_none()
    return None if row is None else (row[0], row[1])


@functools.cache
def _visible_contexts_page(scope: Scope, searched: bool) -> Select[Any]:
    """The page statement of one shape of the listing (see ``one_snapshot_page``)."""
    caller = _bound_id(CALLER_ID)
    filters = [_scope_filter(caller, scope)]
    if searched:
        filters.append(_name_filter(bindparam(NAME_PATTERN, type_=String)))
    rows, statement = one_snapshot_page(
        _with_caller_role(caller).where(*filters),
        order_by=[Context.created_at.desc(), Context.id.desc()],
    )
    return statement.add_columns(aliased(Context, rows), rows.c.role)


async def visible_contexts(
    session: AsyncSession, *, user_id: int, scope: Scope, q: str | None, page: PageParams
) -> tuple[list[ContextRow], int]:
    """One page of the contexts a scope covers, newest first, and how many it covers in all."""
    values: dict[str, Any] = {CALLER_ID: user_id, **page_values(page)}
    if q:
        values[NAME_PATTERN] = like_pattern(q)
    statement = _visible_contexts_page(scope, NAME_PATTERN in values)
    found, total = await read_page(session, statement, values)
    return [(row[0], row[1]) for row in found], total


@functools.cache
def _slug_taken(excepting_a_context: bool) -> Select[int]:
    query = select(Context.id).where(
        Context.owner_id == _bound_id(OWNER_ID), Context.slug == bindparam(SLUG, type_=String)
    )
    if excepting_a_context:
        query = query.where(Context.id != _bound_id(CONTEXT_ID))
    return query.limit(1)


async def slug_taken(
    session: AsyncSession, *, owner_id: int, slug: str, except_context_id: int | None = None
) -> bool:
    values: dict[str, Any] = {OWNER_ID: owner_id, SLUG: slug}
    if except_context_id is not None:
        values[CONTEXT_ID] = except_context_id
    statement = _slug_taken(CONTEXT_ID in values)
    return (await session.execute(statement, values)).first() is not None


async def user_by_id(session: AsyncSession, user_id: int) -> User | None:
    return await session.get(User, user_id)


@functools.cache
def _members_of() -> Select[ContextMember]:
    return (
        select(ContextMember)
        .options(joinedload(ContextMember.user))
        .where(ContextMember.context_id == _bound_id(CONTEXT_ID))
        .order_by(ContextMember.created_at, ContextMember.id)
    )


async def members_of(session: AsyncSession, *, context_id: int) -> Sequence[ContextMember]:
    return (await session.execute(_members_of(), {CONTEXT_ID: context_id})).scalars().all()


@functools.cache
def _member(for_update: bool) -> Select[ContextMember]:
    query = (
        select(ContextMember)
        .options(joinedload(ContextMember.user))
        .where(
            ContextMember.context_id == _bound_id(CONTEXT_ID),
            ContextMember.user_id == _bound_id(MEMBER_ID),
        )
    )
    if for_update:
        # Only the membership's row: the joined user is on the nullable side of an outer join.
        query = query.with_for_update(of=ContextMember).execution_options(populate_existing=True)
    return query


async def member(
    session: AsyncSession, *, context_id: int, user_id: int, for_update: bool = False
) -> ContextMember | None:
    """A membership; ``for_update`` reads it afresh and locks its row (see ``entry``)."""
    values = {CONTEXT_ID: context_id, MEMBER_ID: user_id}
    return (await session.execute(_member(for_update), values)).scalar_one_or_none()


@functools.cache
def _entries_page() -> Select[Any]:
    """The page statement of a context's entries (see ``one_snapshot_page``)."""
    rows, statement = one_snapshot_page(
        select(ContextEntry).where(ContextEntry.context_id == _bound_id(CONTEXT_ID)),
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


@functools.cache
def _entry(for_update: bool) -> Select[ContextEntry]:
    # Filtering on the context too makes an entry of another context a plain "not found".
    query = select(ContextEntry).where(
        ContextEntry.id == _bound_id(ENTRY_ID), ContextEntry.context_id == _bound_id(CONTEXT_ID)
    )
    if for_update:
        query = query.with_for_update().execution_options(populate_existing=True)
    return query


async def entry(
    session: AsyncSession, *, context_id: int, entry_id: int, for_update: bool = False
) -> ContextEntry | None:
    """An entry of a context; ``for_update`` reads it afresh and locks its row.

    A change or a removal locks the row it is about to write, so a concurrent removal either
    waits for the change or has already happened (then: not found), instead of the change
    finding no row to update at flush. SQLite has no row locks: there a writing unit of work
    holds the database's write lock from its start instead.
    """
    values = {ENTRY_ID: entry_id, CONTEXT_ID: context_id}
    return (await session.execute(_entry(for_update), values)).scalar_one_or_none()
