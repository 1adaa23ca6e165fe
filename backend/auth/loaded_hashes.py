"""What ``loaddata`` does with the password hashes of the users it loads.

Django formats that verify (pbkdf2, argon2, bcrypt_sha256, scrypt) load as they are and are
upgraded at the user's next login. Weak ones (md5, sha1, unsalted, crypt, plain text) and hashes
whose cost passes our ceilings are refused, naming the users, unless the caller asks for those
users to be loaded with an unusable password instead (they then need a new one).
"""

from __future__ import annotations

import secrets
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from backend.auth.hashers import Kind, describe

UNUSABLE_OPTION = "--unusable-weak-hashes"


def unusable_password() -> str:
    # Django's own shape for an unusable password: "!" and 40 random characters.
    return "!" + secrets.token_urlsafe(30)[:40]


def refused_hashes(users: Iterable[dict[str, Any]]) -> dict[str, list[str]]:
    """Usernames by the reason their hash cannot be loaded as it is (empty when all can)."""
    refused: defaultdict[str, list[str]] = defaultdict(list)
    for values in users:
        info = describe(values["password"])
        if info.kind is Kind.WEAK:
            refused[info.algorithm].append(values["username"])
        elif info.kind is Kind.TOO_COSTLY:
            refused[f"{info.algorithm} costlier than this server verifies"].append(
                values["username"]
            )
    return dict(refused)


def describe_refusal(refused: dict[str, list[str]]) -> str:
    groups = "; ".join(f"{reason}: {', '.join(names)}" for reason, names in refused.items())
    return (
        f"these users' passwords are stored in a weak or unusable form ({groups}); "
        f"load them with {UNUSABLE_OPTION} to give them unusable passwords (then set new ones "
        "with `backend changepassword`), or remove them from the file"
    )
