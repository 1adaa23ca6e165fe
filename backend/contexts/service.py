"""Contexts, their members and their entries: the rules, on top of permissions and queries."""

from __future__ import annotations

import re
import unicodedata

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from backend.contexts import queries
from backend.contexts.permissions import Access, access, caller_role, may_be_added
from backend.contexts.schemas import (
    ContextCreate,
    ContextRead,
    ContextUpdate,
    EntryCreate,
    EntryRead,
    EntryUpdate,
    MemberCreate,
    MemberRead,
    MemberUpdate,
    Scope,
)
from backend.core.errors import Conflict, NotFound, Unprocessable
from backend.core.pagination import Page, PageParams
from backend.models import Context, ContextEntry, ContextMember, User

MAX_DERIVED_SLUG_LENGTH = 200


def slugify(name: str) -> str:
    """The slug a name gets when none is given: the rule the slug migration back-filled with."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")
    # NFKD can lengthen a name ("ﬃ" is "ffi"), so cut, then strip a "-" the cut may expose.
    return slug[:MAX_DERIVED_SLUG_LENGTH].strip("-") or "context"


def _context_read(found: Access) -> ContextRead:
    return ContextRead.model_validate(found.context).model_copy(
        update={"role_of_caller": found.role}
    )


def _slug_conflict(slug: str) -> Conflict:
    return Conflict(f"you already have a context with the slug {slug!r}; choose another slug")


async def _flush_or_conflict(session: AsyncSession, conflict: Conflict) -> None:
    # The check before writing answers the usual case; a concurrent request can still win the
    # race between check and insert, and then the unique constraint is what refuses it.
    try:
        await session.flush()
    except IntegrityError as error:
        raise conflict from error


async def _ensure_slug_free(
    session: AsyncSession, *, owner_id: int, slug: str, except_context_id: int | None = None
) -> None:
    if await queries.slug_taken(
        session, owner_id=owner_id, slug=slug, except_context_id=except_context_id
    ):
        raise _slug_conflict(slug)


async def list_contexts(
    *, session: AsyncSession, user: User, page: PageParams, scope: Scope, q: str | None
) -> Page[ContextRead]:
    rows, total = await queries.visible_contexts(
        session, user_id=user.id, scope=scope, q=q, page=page
    )
    items = [
        _context_read(Access(context, caller_role(context, user_id=user.id, member_role=role)))
        for context, role in rows
    ]
    return Page(items=items, total=total, page=page.page, page_size=page.page_size)


async def create_context(*, session: AsyncSession, user: User, data: ContextCreate) -> ContextRead:
    slug = data.slug or slugify(data.name)
    await _ensure_slug_free(session, owner_id=user.id, slug=slug)
    context = Context(
        owner_id=user.id,
        name=data.name,
        slug=slug,
        description=data.description,
        visibility=data.visibility,
        metadata_=data.metadata,
    )
    session.add(context)
    await _flush_or_conflict(session, _slug_conflict(slug))
    return _context_read(Access(context, "owner"))


async def read_context(*, session: AsyncSession, user: User, context_id: int) -> ContextRead:
    return _context_read(await access(session=session, user=user, context_id=context_id))


async def update_context(
    *, session: AsyncSession, user: User, context_id: int, data: ContextUpdate
) -> ContextRead:
    found = await access(session=session, user=user, context_id=context_id, for_update=True)
    found.require_owner("change its settings")
    context = found.context
    changes = data.model_dump(exclude_unset=True)
    if "slug" in changes and changes["slug"] != context.slug:
        await _ensure_slug_free(
            session, owner_id=context.owner_id, slug=changes["slug"], except_context_id=context.id
        )
    if "metadata" in changes:
        changes["metadata_"] = changes.pop("metadata")
    for field, value in changes.items():
        setattr(context, field, value)
    await _flush_or_conflict(session, _slug_conflict(context.slug))
    return _context_read(found)


async def delete_context(*, session: AsyncSession, user: User, context_id: int) -> None:
    found = await access(session=session, user=user, context_id=context_id, for_update=True)
    found.require_owner("delete it")
    # Members and entries go with it: their foreign keys are ON DELETE CASCADE.
    await session.delete(found.context)
    await session.flush()


def _member_read(member: ContextMember, username: str) -> MemberRead:
    return MemberRead(
        user_id=member.user_id, username=username, role=member.role, created_at=member.created_at
    )


async def _member_or_404(session: AsyncSession, *, context_id: int, user_id: int) -> ContextMember:
    # Locked: a role change and a removal of the same member at once are then one after the other.
    member = await queries.member(session, context_id=context_id, user_id=user_id, for_update=True)
    if member is None:
        raise NotFound(f"user {user_id} is not a member of context {context_id}")
    return member


async def list_members(*, session: AsyncSession, user: User, context_id: int) -> list[MemberRead]:
    found = await access(session=session, user=user, context_id=context_id)
    members = await queries.members_of(session, context_id=found.context.id)
    return [_member_read(member, member.user.username) for member in members]


async def add_member(
    *, session: AsyncSession, user: User, context_id: int, data: MemberCreate
) -> MemberRead:
    found = await access(session=session, user=user, context_id=context_id)
    found.require_owner("manage its members")
    if data.user_id == found.context.owner_id:
        # A conflict with what is already there (the owner is in the context), like a member twice.
        raise Conflict("the owner of a context cannot also be one of its members")
    new_member = await queries.user_by_id(session, data.user_id)
    if new_member is None or not may_be_added(new_member, by=user):
        # One answer for "no such id" and "an account you may not learn about". 422, not 404: the
        # context addressed exists; it is the id in the body that refers to nothing addable.
        raise Unprocessable(f"no user {data.user_id}")
    conflict = Conflict(f"user {data.user_id} is already a member of context {context_id}")
    if await queries.member(session, context_id=context_id, user_id=data.user_id) is not None:
        raise conflict
    member = ContextMember(context_id=context_id, user_id=new_member.id, role=data.role)
    session.add(member)
    await _flush_or_conflict(session, conflict)
    return _member_read(member, new_member.username)


async def update_member(
    *, session: AsyncSession, user: User, context_id: int, member_id: int, data: MemberUpdate
) -> MemberRead:
    found = await access(session=session, user=user, context_id=context_id)
    found.require_owner("manage its members")
    member = await _member_or_404(session, context_id=context_id, user_id=member_id)
    member.role = data.role
    await session.flush()
    return _member_read(member, member.user.username)


async def remove_member(
    *, session: AsyncSession, user: User, context_id: int, member_id: int
) -> None:
    found = await access(session=session, user=user, context_id=context_id)
    # Anyone may leave a context; only its owner may remove somebody else.
    if member_id != user.id:
        found.require_owner("remove other members")
    member = await _member_or_404(session, context_id=context_id, user_id=member_id)
    await session.delete(member)
    await session.flush()


async def list_entries(
    *, session: AsyncSession, user: User, context_id: int, page: PageParams
) -> Page[EntryRead]:
    found = await access(session=session, user=user, context_id=context_id)
    entries, total = await queries.entries_of(session, context_id=found.context.id, page=page)
    return Page(
        items=[EntryRead.model_validate(entry) for entry in entries],
        total=total,
        page=page.page,
        page_size=page.page_size,
    )


async def _writable_entry(
    *, session: AsyncSession, user: User, context_id: int, entry_id: int
) -> ContextEntry:
    found = await access(session=session, user=user, context_id=context_id)
    found.require_writer()
    entry = await queries.entry(session, context_id=context_id, entry_id=entry_id, for_update=True)
    if entry is None:
        raise NotFound(f"no entry {entry_id} in context {context_id}")
    return entry


async def create_entry(
    *, session: AsyncSession, user: User, context_id: int, data: EntryCreate
) -> EntryRead:
    found = await access(session=session, user=user, context_id=context_id)
    found.require_writer()
    entry = ContextEntry(context_id=context_id, author_id=user.id, title=data.title, body=data.body)
    session.add(entry)
    await session.flush()
    return EntryRead.model_validate(entry)


async def update_entry(
    *, session: AsyncSession, user: User, context_id: int, entry_id: int, data: EntryUpdate
) -> EntryRead:
    entry = await _writable_entry(
        session=session, user=user, context_id=context_id, entry_id=entry_id
    )
    for field, value in data.model_dump(exclude_unset=True).items():
        setattr(entry, field, value)
    await session.flush()
    return EntryRead.model_validate(entry)


async def delete_entry(
    *, session: AsyncSession, user: User, context_id: int, entry_id: int
) -> None:
    entry = await _writable_entry(
        session=session, user=user, context_id=context_id, entry_id=entry_id
    )
    await session.delete(entry)
    await session.flush()
