"""``/contexts``: contexts, their members and their entries, for the logged-in user."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, status

from backend.auth.dependencies import CurrentUser
from backend.contexts import service
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
from backend.core.pagination import Page, PageDep
from backend.core.validation import CONTEXT_NAME_MAX, INT32_MAX, NO_NUL_PATTERN
from backend.db import SessionDep


def _described(*codes: int) -> dict[int | str, dict[str, Any]]:
    descriptions = {
        400: "The body could not be decoded (it is not UTF-8, for example)",
        401: "Not logged in, or the token is invalid or expired",
        403: "The caller may see the context but lacks the role this needs",
        404: "No such context, or one the caller may not see",
        409: "Conflicts with an existing context or member",
        422: "Invalid request",
    }
    return {code: {"description": descriptions[code]} for code in codes}


router = APIRouter(prefix="/contexts", tags=["contexts"], responses=_described(401, 404))

# Ids are INTEGER columns: bounding them keeps an out-of-range id a 422 on both engines.
ContextId = Annotated[int, Path(ge=1, le=INT32_MAX)]
EntryId = Annotated[int, Path(ge=1, le=INT32_MAX)]
UserId = Annotated[int, Path(ge=1, le=INT32_MAX)]
NameQuery = Annotated[
    str | None,
    Query(
        max_length=CONTEXT_NAME_MAX,
        pattern=NO_NUL_PATTERN,
        description="part of the name, any case",
    ),
]


@router.get("")
async def list_contexts(
    session: SessionDep,
    user: CurrentUser,
    page: PageDep,
    q: NameQuery = None,
    scope: Scope = Scope.ALL,
) -> Page[ContextRead]:
    """Contexts the caller owns, is a member of, or that are public; newest first."""
    return await service.list_contexts(session=session, user=user, page=page, scope=scope, q=q)


@router.post("", status_code=status.HTTP_201_CREATED, responses=_described(400, 409))
async def create_context(
    session: SessionDep, user: CurrentUser, data: ContextCreate
) -> ContextRead:
    """Create a context owned by the caller; without a slug, one is derived from the name."""
    return await service.create_context(session=session, user=user, data=data)


@router.get("/{context_id}")
async def read_context(
    session: SessionDep, user: CurrentUser, context_id: ContextId
) -> ContextRead:
    return await service.read_context(session=session, user=user, context_id=context_id)


@router.patch("/{context_id}", responses=_described(400, 403, 409))
async def update_context(
    session: SessionDep, user: CurrentUser, context_id: ContextId, data: ContextUpdate
) -> ContextRead:
    """Change a context's settings (owner only); fields left out are kept."""
    return await service.update_context(
        session=session, user=user, context_id=context_id, data=data
    )


@router.delete("/{context_id}", status_code=status.HTTP_204_NO_CONTENT, responses=_described(403))
async def delete_context(session: SessionDep, user: CurrentUser, context_id: ContextId) -> None:
    """Delete a context with its members and entries (owner only)."""
    await service.delete_context(session=session, user=user, context_id=context_id)


@router.get("/{context_id}/members")
async def list_members(
    session: SessionDep, user: CurrentUser, context_id: ContextId
) -> list[MemberRead]:
    """The members of a context (its owner is not one of them), in the order they joined."""
    return await service.list_members(session=session, user=user, context_id=context_id)


@router.post(
    "/{context_id}/members",
    status_code=status.HTTP_201_CREATED,
    responses=_described(400, 403, 409, 422),
)
async def add_member(
    session: SessionDep, user: CurrentUser, context_id: ContextId, data: MemberCreate
) -> MemberRead:
    """Add a user as a viewer or an editor (owner only)."""
    return await service.add_member(session=session, user=user, context_id=context_id, data=data)


@router.patch("/{context_id}/members/{user_id}", responses=_described(400, 403))
async def update_member(
    session: SessionDep,
    user: CurrentUser,
    context_id: ContextId,
    user_id: UserId,
    data: MemberUpdate,
) -> MemberRead:
    """Change a member's role (owner only)."""
    return await service.update_member(
        session=session, user=user, context_id=context_id, member_id=user_id, data=data
    )


@router.delete(
    "/{context_id}/members/{user_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=_described(403),
)
async def remove_member(
    session: SessionDep, user: CurrentUser, context_id: ContextId, user_id: UserId
) -> None:
    """Remove a member (owner only), or leave a context (any member, for themself)."""
    await service.remove_member(
        session=session, user=user, context_id=context_id, member_id=user_id
    )


@router.get("/{context_id}/entries")
async def list_entries(
    session: SessionDep, user: CurrentUser, context_id: ContextId, page: PageDep
) -> Page[EntryRead]:
    """A context's entries, newest first."""
    return await service.list_entries(session=session, user=user, context_id=context_id, page=page)


@router.post(
    "/{context_id}/entries", status_code=status.HTTP_201_CREATED, responses=_described(400, 403)
)
async def create_entry(
    session: SessionDep, user: CurrentUser, context_id: ContextId, data: EntryCreate
) -> EntryRead:
    """Write an entry, authored by the caller (owner or editor)."""
    return await service.create_entry(session=session, user=user, context_id=context_id, data=data)


@router.patch("/{context_id}/entries/{entry_id}", responses=_described(400, 403))
async def update_entry(
    session: SessionDep,
    user: CurrentUser,
    context_id: ContextId,
    entry_id: EntryId,
    data: EntryUpdate,
) -> EntryRead:
    """Change an entry's title or body (owner or editor)."""
    return await service.update_entry(
        session=session, user=user, context_id=context_id, entry_id=entry_id, data=data
    )


@router.delete(
    "/{context_id}/entries/{entry_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=_described(403),
)
async def delete_entry(
    session: SessionDep, user: CurrentUser, context_id: ContextId, entry_id: EntryId
) -> None:
    """Delete an entry (owner or editor)."""
    await service.delete_entry(session=session, user=user, context_id=context_id, entry_id=entry_id)
