"""Authenticating users, changing passwords, and issuing tokens."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from backend.auth import queries
from backend.auth.passwords import check_password, hash_password_off_loop
from backend.auth.tokens import create_access_token
from backend.core.errors import NotFound
from backend.models import User
from backend.models.base import utcnow


async def authenticate(*, session: AsyncSession, username: str, password: str) -> User | None:
    """The active user with these credentials, or None; outdated hashes are upgraded on success.

    Unknown users, wrong passwords and inactive users all return None after one password check
    padded to the same duration, so neither the answer nor its timing tells them apart.
    """
    # No account can have a NUL in its name (PostgreSQL cannot even compare one): an unknown user,
    # not a database error that would answer differently from every other refusal.
    user = None if "\x00" in username else await queries.user_by_username(session, username)
    await end_transaction_before_hashing(session)
    active = user is not None and user.is_active
    verdict = await check_password(password, user.password if user else None, may_upgrade=active)
    if user is None or not active or not verdict.matches:
        return None
    if verdict.new_hash is not None:
        user.upgrade_hash(verdict.new_hash)
    user.last_login = utcnow()
    await session.flush()
    return user


async def end_transaction_before_hashing(session: AsyncSession) -> None:
    """Hold no transaction through the slow hash: nothing is written yet, so this ends a read.

    On SQLite a unit of work that may write can take the write lock when it begins; held through
    a few hundred milliseconds of hashing it would queue every other login's throttle insert
    behind it, past the busy timeout when many arrive at once.
    """
    await session.commit()


async def password_is_right(user: User, password: str) -> bool:
    return (await check_password(password, user.password, may_upgrade=False)).matches


async def set_password(*, session: AsyncSession, user: User, password: str) -> None:
    """A new password; the user's token generation changes with it, ending every older token."""
    user.password = await hash_password_off_loop(password)
    await session.flush()


async def set_password_by_username(*, session: AsyncSession, username: str, password: str) -> None:
    """``backend changepassword``: the same as the endpoint, without the current password."""
    user = await queries.user_by_username(session, username)
    if user is None:
        raise NotFound(f"no user is named {username!r}")
    await set_password(session=session, user=user, password=password)


def issue_token(*, user: User, key: str, minutes: int) -> str:
    return create_access_token(
        user_id=user.id,
        generation=user.token_generation,
        key=key,
        lifetime=timedelta(minutes=minutes),
    )
