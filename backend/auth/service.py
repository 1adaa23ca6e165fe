"""Authenticating users and issuing their tokens."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from backend.auth import queries
from backend.auth.passwords import verify_password
from backend.auth.tokens import create_access_token
from backend.models import User
from backend.models.base import utcnow


async def authenticate(*, session: AsyncSession, username: str, password: str) -> User | None:
    """The active user with these credentials, or None; outdated hashes are upgraded on success.

    Unknown users, wrong passwords and inactive users all return None after the same amount of
    hashing work, so neither the answer nor its timing tells which usernames exist.
    """
    # No account can have a NUL in its name (PostgreSQL cannot even compare one): an unknown user,
    # not a database error that would answer differently from every other refusal.
    user = None if "\x00" in username else await queries.user_by_username(session, username)
    matches, new_hash = verify_password(password, user.password if user else None)
    if user is None or not matches or not user.is_active:
        return None
    if new_hash is not None:
        user.password = new_hash
    user.last_login = utcnow()
    await session.flush()
    return user


def issue_token(*, user: User, key: str, minutes: int) -> str:
    return create_access_token(user_id=user.id, key=key, lifetime=timedelta(minutes=minutes))
