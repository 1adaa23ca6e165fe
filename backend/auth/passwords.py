"""Password hashing: Argon2 for new passwords, Django's formats verified then upgraded, all off the loop.

Hashing is CPU work of a few hundred milliseconds: on the event loop it stalled every other
request, so it runs in worker threads, a few at a time (more would only queue on the cores).
A login's checking phase is padded to what the slowest kind of stored hash usually costs, so its
duration does not tell an unknown user from an Argon2 user, a Django-hash user or an inactive one.
"""

from __future__ import annotations

import os
import secrets
import time
from dataclasses import dataclass
from functools import cache

import anyio
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

from backend.auth.hashers import Kind, describe, verify_legacy

# Argon2 and PBKDF2 release the GIL, so threads run them in parallel, one per core at most.
HASHING_THREADS = max(1, min(4, os.cpu_count() or 1))
# The padding never exceeds this, whatever a stored hash costs (the hash ceilings keep it lower).
MAX_PADDING_SECONDS = 2.0

password_hash = PasswordHash((Argon2Hasher(),))
_limiter = anyio.CapacityLimiter(HASHING_THREADS)


@dataclass(frozen=True)
class Verdict:
    matches: bool
    # A new hash to store when the old one is outdated (legacy format, old Argon2 parameters).
    new_hash: str | None = None


class CostFloor:
    """A running estimate of what each kind of hash costs; logins are padded to the largest.

    An average per cost class (algorithm and parameters), not a maximum, so one slow moment under
    load does not make every later login slow. A class is seen once before it counts, so in a new
    process the first login of each new kind is not padded: the one case timing can still tell.
    """

    def __init__(self, smoothing: float = 0.2) -> None:
        self._smoothing = smoothing
        self._seconds: dict[str, float] = {}

    def observe(self, cost_class: str, seconds: float) -> None:
        previous = self._seconds.get(cost_class)
        if previous is None:
            self._seconds[cost_class] = seconds
        else:
            self._seconds[cost_class] = previous + self._smoothing * (seconds - previous)

    def seconds(self) -> float:
        return min(max(self._seconds.values(), default=0.0), MAX_PADDING_SECONDS)


cost_floor = CostFloor()


@cache
def _timing_decoy() -> str:
    """Verified against when there is nothing usable to verify, so that costs what a real check does.

    Made on first use, not at import: every process that imports the app would pay for it.
    """
    return password_hash.hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    """An Argon2 hash (blocking: use hash_password_off_loop in request handlers)."""
    return password_hash.hash(password)


async def hash_password_off_loop(password: str) -> str:
    return await anyio.to_thread.run_sync(hash_password, password, limiter=_limiter)


async def check_password(password: str, stored: str | None, *, may_upgrade: bool) -> Verdict:
    """Check a password against a stored value (None: no such user), in a worker thread.

    Exactly one check is always made: against the stored hash when it is usable and within the
    cost ceilings, else against a decoy Argon2 hash. ``may_upgrade`` false (an inactive user)
    never computes a new hash, so such a login costs what a refused one does.
    """
    verdict, cost_class, seconds = await anyio.to_thread.run_sync(
        _check, password, stored, may_upgrade, limiter=_limiter
    )
    cost_floor.observe(cost_class, seconds)
    await anyio.sleep(max(0.0, cost_floor.seconds() - seconds))
    return verdict


def _check(password: str, stored: str | None, may_upgrade: bool) -> tuple[Verdict, str, float]:
    started = time.perf_counter()
    # Fetched on every call, used or not: the first call after start-up makes the decoy, and that
    # extra hash must not tell an unknown username from a known one.
    decoy = _timing_decoy()
    info = describe(stored) if stored is not None else None
    if stored is not None and info is not None and info.kind is Kind.OURS:
        matches, new_hash = _verify_ours(password, stored)
        cost_class = info.cost_class
    elif stored is not None and info is not None and info.kind is Kind.LEGACY:
        matches, new_hash = verify_legacy(password, stored), None
        cost_class = info.cost_class
    else:
        _verify_ours(password, decoy)
        matches, new_hash, cost_class = False, None, describe(decoy).cost_class
    seconds = time.perf_counter() - started
    if not (matches and may_upgrade):
        return Verdict(matches), cost_class, seconds
    if info is not None and info.kind is Kind.LEGACY:
        new_hash = password_hash.hash(password)
    return Verdict(matches, new_hash), cost_class, seconds


def _verify_ours(password: str, stored: str) -> tuple[bool, str | None]:
    try:
        return password_hash.verify_and_update(password, stored)
    except Exception:
        return False, None
