"""User administration rules: who may change whom, and how users are created."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from backend.admin import queries
from backend.admin.schemas import AdminUserCreate, AdminUserRead, UserFilters
from backend.auth import queries as auth_queries
from backend.auth.passwords import hash_password_off_loop
from backend.core.errors import Conflict, Forbidden, NotFound
from backend.core.pagination import Page, PageParams
from backend.models import User


async def list_users(
    *, session: AsyncSession, filters: UserFilters, page: PageParams
) -> Page[AdminUserRead]:
    """One page of matching users, and how many match in all (read together: one snapshot).

    Services build the pages their list endpoints return, in every domain (contexts' too).
    """
    users, total = await queries.search_users(session, filters, page)
    items = [AdminUserRead.model_validate(user) for user in users]
    return Page(items=items, total=total, page=page.page, page_size=page.page_size)


async def create_user(*, session: AsyncSession, actor: User, data: AdminUserCreate) -> User:
    """A new active user; only a superuser may make the new user staff."""
    if data.is_staff and not actor.is_superuser:
        raise Forbidden("only a superuser may create staff users")
    return await add_user(session=session, data=data, is_superuser=False)


async def add_user(*, session: AsyncSession, data: AdminUserCreate, is_superuser: bool) -> User:
    """Insert a user after checking the username and email are free (also for the CLI)."""
    if await auth_queries.user_by_username(session, data.username) is not None:
        raise Conflict(f"the username {data.username!r} is already taken")
    # Checked here for a clear message; the unique index on lower(email) is the net for races.
    if data.email and await auth_queries.email_taken(session, data.email):
        raise Conflict(f"the email {data.email!r} is already used by another user")
    user = User(
        username=data.username,
        email=data.email,
        password=await hash_password_off_loop(data.password),
        first_name=data.first_name,
        last_name=data.last_name,
        is_staff=data.is_staff or is_superuser,
        is_superuser=is_superuser,
        is_active=True,
    )
    session.add(user)
    try:
        await session.flush()
    except IntegrityError as error:
        # A concurrent request took the username or email between the checks and the insert.
        raise Conflict(
            f"the username {data.username!r} or its email was just taken by another request"
        ) from error
    return user


async def get_user(*, session: AsyncSession, user_id: int) -> User:
    user = await auth_queries.user_by_id(session, user_id)
    if user is None:
        raise NotFound(f"no user with id {user_id}")
    return user


def _refuse_self(actor: User, target: User, action: str) -> None:
    # Locking yourself out is never what an admin means, and could leave nobody able to undo it.
    if actor.id == target.id:
        raise Conflict(f"you cannot {action} your own account; ask another administrator")


def _refuse_superuser_target(actor: User, target: User, action: str) -> None:
    if target.is_superuser and not actor.is_superuser:
        raise Forbidden(f"only a superuser may {action} a superuser")


async def _user_to_remove(*, session: AsyncSession, actor: User, user_id: int, action: str) -> User:
    """The user about to be deactivated or deleted, checked against what the database holds now.

    There must always be an active superuser. Superusers cannot remove themselves, so a single
    request never removes the last one, but two superusers removing each other at the same
    moment could: each request checked an actor that the other was removing. So the active
    superusers are locked first (then the target), and the actor must still be one of them.
    """
    active_superusers = await queries.lock_active_superusers(session)
    user = await queries.lock_user(session, user_id)
    if user is None:
        raise NotFound(f"no user with id {user_id}")
    _refuse_self(actor, user, action)
    _refuse_superuser_target(actor, user, action)
    if user.id in active_superusers:
        if actor.id not in active_superusers:
            raise Forbidden(
                f"your account stopped being an active superuser before it could {action} this user"
            )
        if not active_superusers - {user.id}:
            raise Conflict("there must always be an active superuser; this would leave none")
    return user


async def set_active(*, session: AsyncSession, actor: User, user_id: int, active: bool) -> User:
    """(De)activate a user; a superuser's state is a superuser's call, either way."""
    if active:
        user = await get_user(session=session, user_id=user_id)
        # Otherwise staff could undo a superuser's decision to lock a superuser out.
        _refuse_superuser_target(actor, user, "activate")
    else:
        user = await _user_to_remove(
            session=session, actor=actor, user_id=user_id, action="deactivate"
        )
    user.is_active = active
    await session.flush()
    return user


async def set_staff(*, session: AsyncSession, actor: User, user_id: int, staff: bool) -> User:
    """Grant (superusers only) or revoke staff status."""
    user = await get_user(session=session, user_id=user_id)
    if staff and not actor.is_superuser:
        # Staff could otherwise make staff by creating a plain user and then granting it.
        raise Forbidden("only a superuser may grant staff status")
    if not staff:
        _refuse_self(actor, user, "revoke staff status from")
        _refuse_superuser_target(actor, user, "revoke staff status from")
    user.is_staff = staff
    await session.flush()
    return user


async def grant_superuser(*, session: AsyncSession, user_id: int) -> User:
    """Make a user a superuser; superusers are staff too, as in Django's createsuperuser."""
    user = await get_user(session=session, user_id=user_id)
    user.is_superuser = True
    user.is_staff = True
    await session.flush()
    return user


async def delete_user(*, session: AsyncSession, actor: User, user_id: int) -> None:
    """Delete a user; the database cascades to their contexts and memberships."""
    user = await _user_to_remove(session=session, actor=actor, user_id=user_id, action="delete")
    await session.delete(user)
    await session.flush()
