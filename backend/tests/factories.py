"""Factories for every model: ``await make_user(session, username="ann")``; each commits.

Unique values come from a counter, never from ids (PostgreSQL sequences are not rolled back).
Hashing is the slow part of making a user, so users get one Argon2 hash of DEFAULT_PASSWORD
computed once per process.
"""

from __future__ import annotations

import itertools
from functools import cache
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from backend.auth.passwords import hash_password
from backend.models import Context, ContextEntry, ContextMember, Role, User, Visibility

ModelT = TypeVar("ModelT")

DEFAULT_PASSWORD = "correct horse battery staple"
_sequence = itertools.count(1)


@cache
def default_password_hash() -> str:
    return hash_password(DEFAULT_PASSWORD)


async def _save(session: AsyncSession, obj: ModelT) -> ModelT:
    session.add(obj)
    await session.commit()
    return obj


async def make_user(session: AsyncSession, *, password: str | None = None, **fields: Any) -> User:
    number = next(_sequence)
    fields.setdefault("username", f"user{number}")
    fields.setdefault("email", f"{fields['username']}@example.com")
    fields["password"] = hash_password(password) if password else default_password_hash()
    return await _save(session, User(**fields))


async def make_context(
    session: AsyncSession, *, owner: User | None = None, **fields: Any
) -> Context:
    number = next(_sequence)
    owner = owner or await make_user(session)
    fields.setdefault("name", f"Context {number}")
    fields.setdefault("slug", f"context-{number}")
    fields.setdefault("visibility", Visibility.PRIVATE)
    return await _save(session, Context(owner_id=owner.id, **fields))


async def make_member(
    session: AsyncSession,
    *,
    context: Context,
    user: User | None = None,
    role: Role = Role.VIEWER,
) -> ContextMember:
    user = user or await make_user(session)
    return await _save(session, ContextMember(context_id=context.id, user_id=user.id, role=role))


async def make_entry(
    session: AsyncSession, *, context: Context, author: User | None = None, **fields: Any
) -> ContextEntry:
    number = next(_sequence)
    fields.setdefault("title", f"Entry {number}")
    fields.setdefault("body", f"Body of entry {number}")
    author_id = author.id if author else context.owner_id
    return await _save(session, ContextEntry(context_id=context.id, author_id=author_id, **fields))
