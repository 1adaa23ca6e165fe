"""``/admin/users``: staff manage accounts; superusers also delete users and grant superuser."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, status

from backend.admin import service
from backend.admin.schemas import AdminUserCreate, AdminUserRead, UserFilters
from backend.auth.dependencies import StaffUser, Superuser
from backend.core.pagination import Page, PageDep
from backend.core.validation import INT32_MAX
from backend.db import SessionDep
from backend.models import User

router = APIRouter(
    prefix="/admin",
    tags=["admin"],
    responses={401: {"description": "Not logged in"}, 403: {"description": "Not allowed"}},
)

# Ids beyond PostgreSQL's integer range would be a database error there and a 404 on SQLite.
UserId = Annotated[int, Path(ge=1, le=INT32_MAX)]
Responses = dict[int | str, dict[str, Any]]
_NOT_FOUND: Responses = {404: {"description": "No such user"}}
_CONFLICT: Responses = {409: {"description": "Not allowed on your own account, or a duplicate"}}
_UNDECODABLE: Responses = {400: {"description": "The body could not be decoded (not UTF-8)"}}


def _read(user: User) -> AdminUserRead:
    return AdminUserRead.model_validate(user)


@router.get("/users")
async def list_users(
    session: SessionDep,
    _staff: StaffUser,
    page: PageDep,
    filters: Annotated[UserFilters, Query()],
) -> Page[AdminUserRead]:
    """Users ordered by username, optionally searched and filtered."""
    return await service.list_users(session=session, filters=filters, page=page)


@router.post("/users", status_code=status.HTTP_201_CREATED, responses=_CONFLICT | _UNDECODABLE)
async def create_user(
    data: AdminUserCreate, session: SessionDep, actor: StaffUser
) -> AdminUserRead:
    """Create an active user; creating a staff user takes a superuser."""
    return _read(await service.create_user(session=session, actor=actor, data=data))


@router.post("/users/{user_id}/activate", responses=_NOT_FOUND)
async def activate(user_id: UserId, session: SessionDep, actor: StaffUser) -> AdminUserRead:
    """Let a user log in again; only a superuser may re-activate a superuser."""
    user = await service.set_active(session=session, actor=actor, user_id=user_id, active=True)
    return _read(user)


@router.post("/users/{user_id}/deactivate", responses=_NOT_FOUND | _CONFLICT)
async def deactivate(user_id: UserId, session: SessionDep, actor: StaffUser) -> AdminUserRead:
    """Stop a user logging in; their existing tokens stop working at once.

    Only a superuser may deactivate a superuser.
    """
    user = await service.set_active(session=session, actor=actor, user_id=user_id, active=False)
    return _read(user)


@router.post("/users/{user_id}/grant-staff", responses=_NOT_FOUND)
async def grant_staff(user_id: UserId, session: SessionDep, actor: Superuser) -> AdminUserRead:
    """Make a user staff. Superusers only (staff get 403)."""
    user = await service.set_staff(session=session, actor=actor, user_id=user_id, staff=True)
    return _read(user)


@router.post("/users/{user_id}/revoke-staff", responses=_NOT_FOUND | _CONFLICT)
async def revoke_staff(user_id: UserId, session: SessionDep, actor: StaffUser) -> AdminUserRead:
    """Take staff status away; only a superuser may do this to a superuser."""
    user = await service.set_staff(session=session, actor=actor, user_id=user_id, staff=False)
    return _read(user)


@router.post("/users/{user_id}/grant-superuser", responses=_NOT_FOUND)
async def grant_superuser(
    user_id: UserId, session: SessionDep, _superuser: Superuser
) -> AdminUserRead:
    """Make a user a superuser (and staff). Superusers only."""
    return _read(await service.grant_superuser(session=session, user_id=user_id))


@router.delete(
    "/users/{user_id}", status_code=status.HTTP_204_NO_CONTENT, responses=_NOT_FOUND | _CONFLICT
)
async def delete_user(user_id: UserId, session: SessionDep, actor: Superuser) -> None:
    """Delete a user and what they own. Superusers only."""
    await service.delete_user(session=session, actor=actor, user_id=user_id)
