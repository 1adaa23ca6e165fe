"""Slows down password guessing, with its state in the database so every worker and restart shares it.

Two limits, both counted over recent attempts stored in ``login_attempts``:

- per client address and username (``login_attempts_per_minute`` a minute): a guesser from one
  address is stopped quickly, and the account's owner, coming from another address, is not;
- per username from everywhere (``login_attempts_per_hour_per_username`` an hour): bounds guessing
  spread over many addresses. It can make the owner wait too, which is why it is much larger and
  only slows: it never locks an account, each refusal says when to retry, and a successful login
  from an address clears that address's attempts at that account.

Attempts are counted per account name as a login looks it up (NFKC, case kept): every spelling that
reaches an account (``ﬁona`` reaches ``fiona``) counts against it, and an account whose name differs
(``Fiona``) has a bucket of its own, so logging into it clears nothing another account's guesses
share.

An attempt is reserved (inserted and committed) before its password is checked, so concurrent
guesses each see the others; the check-and-insert is serialised per username (an advisory lock on
PostgreSQL; SQLite's single writer, taken by the INSERT that opens the transaction).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.core.identities import normalize_username
from backend.core.validation import USERNAME_MAX
from backend.models import LoginAttempt
from backend.models.base import utcnow

# Django's username limit: a longer name (once normalised) can have no account.
MAX_USERNAME_LENGTH = USERNAME_MAX
# What is typed is refused before any work beyond this: NFKC composes a letter and its combining
# marks, so a name typed decomposed is longer than the name it normalises to, but not 4 times.
MAX_TYPED_USERNAME_LENGTH = 4 * USERNAME_MAX


def username_key(username: str) -> str:
    """A fixed-length key for the account a typed username reaches (its NFKC form, case kept)."""
    name = normalize_username(username)
    return hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class Limits:
    per_client: int
    per_username: int
    client_window: timedelta = timedelta(minutes=1)
    username_window: timedelta = timedelta(hours=1)


class LoginThrottle:
    def __init__(self, limits: Limits) -> None:
        self.limits = limits

    async def reserve(
        self, sessionmaker: async_sessionmaker[AsyncSession], *, username: str, client: str
    ) -> float:
        """Record an attempt and return 0, or return the seconds to wait (nothing recorded)."""
        key = username_key(username)
        async with sessionmaker() as session:
            try:
                wait = await self._reserve(session, key, client[:64])
            except BaseException:
                await session.rollback()
                raise
            if wait > 0:
                await session.rollback()
            else:
                await session.commit()
            return wait

    async def _reserve(self, session: AsyncSession, key: str, client: str) -> float:
        now = utcnow()
        if session.get_bind().dialect.name == "postgresql":
            # Serialise concurrent attempts for one username until this transaction ends.
            lock_id = int.from_bytes(bytes.fromhex(key[:16]), "big", signed=True)
            await session.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": lock_id})
        # The insert comes first: on SQLite it takes the write lock at once, so the counts
        # below cannot change under it (a read first would let two attempts count the same).
        session.add(LoginAttempt(username_key=key, client=client, attempted_at=now))
        await session.flush()
        limits = self.limits
        for window, limit, same_client in (
            (limits.client_window, limits.per_client, True),
            (limits.username_window, limits.per_username, False),
        ):
            query = select(func.count(), func.min(LoginAttempt.attempted_at)).where(
                LoginAttempt.username_key == key, LoginAttempt.attempted_at > now - window
            )
            if same_client:
                query = query.where(LoginAttempt.client == client)
            count, oldest = (await session.execute(query)).one()
            if count > limit:
                return max(1.0, (oldest + window - now).total_seconds())
        # Bounded: nothing older than the longest window is ever needed again.
        horizon = now - max(limits.client_window, limits.username_window)
        await session.execute(delete(LoginAttempt).where(LoginAttempt.attempted_at < horizon))
        return 0.0

    async def clear(self, session: AsyncSession, *, username: str, client: str) -> None:
        """A successful login: this address's attempts at this account no longer count.

        In the request's own session: it has written already (last_login), and on SQLite a second
        connection would wait for that write lock until the request ends, that is, forever.
        """
        await session.execute(
            delete(LoginAttempt).where(
                LoginAttempt.username_key == username_key(username),
                LoginAttempt.client == client[:64],
            )
        )
