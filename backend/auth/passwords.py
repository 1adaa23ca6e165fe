"""Password hashing: Argon2 for new passwords; Django's PBKDF2 hashes still verify, then upgrade."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from functools import cache

from pwdlib import PasswordHash
from pwdlib.exceptions import UnknownHashError
from pwdlib.hashers.argon2 import Argon2Hasher
from pwdlib.hashers.base import ensure_bytes, ensure_str

DJANGO_PBKDF2_ITERATIONS = 1_000_000  # Django 5.x's default for new hashes


class DjangoPBKDF2Hasher:
    """Django's ``pbkdf2_sha256$<iterations>$<salt>$<base64 digest>`` format.

    pwdlib has no Django hasher and the format is a few lines over the standard library, so this
    is the one piece of hashing written here. It exists to verify old hashes: ``PasswordHash``
    re-hashes any match with Argon2, so Django hashes disappear as users log in.
    """

    algorithm = "pbkdf2_sha256"

    @classmethod
    def identify(cls, hash: str | bytes) -> bool:
        return ensure_str(hash).startswith(f"{cls.algorithm}$")

    def hash(self, password: str | bytes, *, salt: bytes | None = None) -> str:
        salt_text = ensure_str(salt) if salt else secrets.token_urlsafe(16)
        digest = self._digest(ensure_bytes(password), salt_text, DJANGO_PBKDF2_ITERATIONS)
        return f"{self.algorithm}${DJANGO_PBKDF2_ITERATIONS}${salt_text}${digest}"

    def verify(self, password: str | bytes, hash: str | bytes) -> bool:
        try:
            algorithm, iterations, salt, expected = ensure_str(hash).split("$", 3)
            rounds = int(iterations)
        except ValueError:
            return False
        if algorithm != self.algorithm or not 0 < rounds <= 10_000_000:
            return False
        actual = self._digest(ensure_bytes(password), salt, rounds)
        return hmac.compare_digest(actual, expected)

    def check_needs_rehash(self, hash: str | bytes) -> bool:
        return True

    @staticmethod
    def _digest(password: bytes, salt: str, iterations: int) -> str:
        raw = hashlib.pbkdf2_hmac("sha256", password, salt.encode(), iterations)
        return base64.b64encode(raw).decode("ascii").strip()


password_hash = PasswordHash((Argon2Hasher(), DjangoPBKDF2Hasher()))


@cache
def _timing_decoy() -> str:
    """Verified against when a username is unknown, so that case costs what a wrong password does.

    Made on first use, not at import: an Argon2 hash costs about 0.3 s here, and every process
    that imports the app (the CLI, each test run) would pay it.
    """
    return password_hash.hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    return password_hash.hash(password)


def verify_password(password: str, stored_hash: str | None) -> tuple[bool, str | None]:
    """Check a password; the second value is a new hash to store when the old one is outdated.

    An unknown or unusable stored hash (Django writes ``!…`` for unusable passwords) never matches.
    """
    # Fetched on every call, used or not: the first call after start-up makes the decoy, and that
    # extra hash must not tell an unknown username from a known one.
    decoy = _timing_decoy()
    if stored_hash is None:
        password_hash.verify(password, decoy)
        return False, None
    try:
        return password_hash.verify_and_update(password, stored_hash)
    except UnknownHashError:
        password_hash.verify(password, decoy)
        return False, None
