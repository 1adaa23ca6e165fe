"""Django's password hash formats: which kind a stored value is, what it may cost, and verifying it.

Django 5.2 writes pbkdf2_sha256 by default and commonly pbkdf2_sha1, argon2, bcrypt_sha256 and
scrypt; all of them verify here (and are replaced by our Argon2 on the next login). The weak
formats of older Django (md5, sha1, unsalted, crypt) and plain text are recognised only so they
can be refused. Each verifier is the library's own (hashlib, argon2-cffi, bcrypt); only the
parsing of Django's envelope is written here.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

import bcrypt
from argon2 import PasswordHasher as Argon2Verifier
from argon2 import extract_parameters
from argon2.exceptions import Argon2Error, InvalidHashError

# Ceilings on what one stored hash may cost to verify: well above Django's defaults (PBKDF2
# 1,000,000 iterations; Argon2 t=2, 100 MiB, p=8; bcrypt 2^12; scrypt 2^14, r=8, p=5), far
# below a hash made to stall the server (10 million PBKDF2 iterations took 3.2 s here).
MAX_PBKDF2_ITERATIONS = 2_000_000
MAX_ARGON2_TIME_COST = 6
MAX_ARGON2_MEMORY_KIB = 256 * 1024
MAX_ARGON2_PARALLELISM = 16
MAX_BCRYPT_ROUNDS = 13
MAX_SCRYPT_N = 2**16
MAX_SCRYPT_R = 16
MAX_SCRYPT_P = 16

_HEX32 = re.compile(r"[0-9a-f]{32}")


class Kind(StrEnum):
    OURS = "ours"  # our own Argon2 ($argon2id$…)
    LEGACY = "legacy"  # a Django format that verifies, then is upgraded
    UNUSABLE = "unusable"  # Django's "!…" (set_unusable_password) or empty: never matches
    WEAK = "weak"  # md5, sha1, unsalted, crypt, or plain text: refused by loaddata
    TOO_COSTLY = "too costly"  # a legacy format whose parameters pass our ceilings


@dataclass(frozen=True)
class HashInfo:
    kind: Kind
    # "pbkdf2_sha256", "md5", "plain text"…; with the cost for legacy ones ("pbkdf2_sha256$1000000")
    algorithm: str
    cost_class: str = ""


def describe(stored: str) -> HashInfo:
    """What a stored password value is, from its shape alone (nothing is computed)."""
    if stored == "" or stored.startswith("!"):
        return HashInfo(Kind.UNUSABLE, "unusable")
    if stored.startswith("$argon2"):
        try:
            cost_class, within = _argon2_cost("argon2" + stored)
        except (ValueError, InvalidHashError):
            return HashInfo(Kind.WEAK, "malformed argon2")
        return HashInfo(Kind.OURS if within else Kind.TOO_COSTLY, "argon2", cost_class)
    algorithm = stored.split("$", 1)[0] if "$" in stored else ""
    parser = _COST_PARSERS.get(algorithm)
    if parser is None:
        return HashInfo(Kind.WEAK, _weak_name(stored, algorithm))
    try:
        cost_class, within = parser(stored)
    except (ValueError, IndexError, InvalidHashError):
        return HashInfo(Kind.WEAK, f"malformed {algorithm}")
    return HashInfo(Kind.LEGACY if within else Kind.TOO_COSTLY, algorithm, cost_class)


def _weak_name(stored: str, algorithm: str) -> str:
    if algorithm == "crypt":
        return algorithm
    if algorithm in {"md5", "sha1", "unsalted_md5", "unsalted_sha1"}:
        return f"unsalted {algorithm}" if stored.startswith(f"{algorithm}$$") else algorithm
    if _HEX32.fullmatch(stored):
        return "unsalted md5"
    return "plain text or an unknown format"


def _pbkdf2_cost(stored: str) -> tuple[str, bool]:
    algorithm, iterations, _salt, _digest = stored.split("$", 3)
    rounds = int(iterations)
    return f"{algorithm}${rounds}", 0 < rounds <= MAX_PBKDF2_ITERATIONS


def _argon2_cost(stored: str) -> tuple[str, bool]:
    parameters = extract_parameters("$" + stored.split("$", 1)[1])
    within = (
        parameters.time_cost <= MAX_ARGON2_TIME_COST
        and parameters.memory_cost <= MAX_ARGON2_MEMORY_KIB
        and parameters.parallelism <= MAX_ARGON2_PARALLELISM
    )
    cost = f"m={parameters.memory_cost},t={parameters.time_cost},p={parameters.parallelism}"
    return f"argon2${cost}", within


def _bcrypt_cost(stored: str) -> tuple[str, bool]:
    rounds = int(stored.split("$")[3])
    return f"bcrypt_sha256${rounds}", 4 <= rounds <= MAX_BCRYPT_ROUNDS


def _scrypt_cost(stored: str) -> tuple[str, bool]:
    _algorithm, n, _salt, r, p, _digest = stored.split("$", 5)
    work, block, parallel = int(n), int(r), int(p)
    within = (
        1 < work <= MAX_SCRYPT_N
        and work & (work - 1) == 0
        and 0 < block <= MAX_SCRYPT_R
        and 0 < parallel <= MAX_SCRYPT_P
    )
    return f"scrypt${work}${block}${parallel}", within


_COST_PARSERS: dict[str, Callable[[str], tuple[str, bool]]] = {
    "pbkdf2_sha256": _pbkdf2_cost,
    "pbkdf2_sha1": _pbkdf2_cost,
    "argon2": _argon2_cost,
    "bcrypt_sha256": _bcrypt_cost,
    "scrypt": _scrypt_cost,
}


def verify_legacy(password: str, stored: str) -> bool:
    """Check a password against a LEGACY hash (describe() said so; its cost is within bounds)."""
    algorithm = stored.split("$", 1)[0]
    try:
        return _VERIFIERS[algorithm](password.encode(), stored)
    except (ValueError, IndexError, binascii.Error, Argon2Error):
        return False


def _verify_pbkdf2(password: bytes, stored: str) -> bool:
    algorithm, iterations, salt, expected = stored.split("$", 3)
    digest_name = algorithm.removeprefix("pbkdf2_")
    raw = hashlib.pbkdf2_hmac(digest_name, password, salt.encode(), int(iterations))
    return hmac.compare_digest(base64.b64encode(raw).decode("ascii"), expected)


def _verify_argon2(password: bytes, stored: str) -> bool:
    # Django prefixes argon2-cffi's own encoding with "argon2".
    return Argon2Verifier().verify("$" + stored.split("$", 1)[1], password)


def _verify_bcrypt_sha256(password: bytes, stored: str) -> bool:
    # Django hashes with SHA-256 first (bcrypt reads only 72 bytes) and bcrypts the hex digest.
    prehashed = binascii.hexlify(hashlib.sha256(password).digest())
    return bcrypt.checkpw(prehashed, stored.split("$", 1)[1].encode("ascii"))


def _verify_scrypt(password: bytes, stored: str) -> bool:
    _algorithm, n, salt, r, p, expected = stored.split("$", 5)
    work, block, parallel = int(n), int(r), int(p)
    raw = hashlib.scrypt(
        password,
        salt=salt.encode(),
        n=work,
        r=block,
        p=parallel,
        maxmem=256 * work * block,
        dklen=64,
    )
    return hmac.compare_digest(base64.b64encode(raw).decode("ascii"), expected)


_VERIFIERS: dict[str, Callable[[bytes, str], bool]] = {
    "pbkdf2_sha256": _verify_pbkdf2,
    "pbkdf2_sha1": _verify_pbkdf2,
    "argon2": _verify_argon2,
    "bcrypt_sha256": _verify_bcrypt_sha256,
    "scrypt": _verify_scrypt,
}
