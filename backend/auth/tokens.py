"""Signed bearer tokens (JWT, HS256) naming a user and the account state they were issued for."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt

ALGORITHM = "HS256"
# User ids are INTEGER columns on both engines; a larger "sub" names nobody (and would overflow).
MAX_USER_ID = 2**31 - 1
_DECIMAL_ID = re.compile(r"[1-9][0-9]{0,9}")


class InvalidToken(Exception):
    """The token is malformed, expired, not signed with our key, or names no possible user."""


@dataclass(frozen=True)
class TokenClaims:
    user_id: int
    # The user's token generation when the token was issued: it must still be the current one.
    generation: str


def create_access_token(*, user_id: int, generation: str, key: str, lifetime: timedelta) -> str:
    now = datetime.now(UTC)
    claims = {
        "sub": str(user_id),
        "gen": generation,
        "iat": now,
        "exp": now + lifetime,
        "type": "access",
    }
    return jwt.encode(claims, key, algorithm=ALGORITHM)


def read_access_token(token: str, *, key: str) -> TokenClaims:
    """The user and generation a valid token names."""
    try:
        claims = jwt.decode(
            token, key, algorithms=[ALGORITHM], options={"require": ["sub", "exp", "iat", "gen"]}
        )
    except jwt.PyJWTError as error:
        raise InvalidToken(str(error)) from error
    if claims.get("type") != "access":
        raise InvalidToken("not an access token")
    subject, generation = claims["sub"], claims["gen"]
    if not isinstance(subject, str) or not _DECIMAL_ID.fullmatch(subject):
        raise InvalidToken("the subject is not a user id")
    if int(subject) > MAX_USER_ID:
        raise InvalidToken("the subject is out of range")
    if not isinstance(generation, str):
        raise InvalidToken("the token generation is not a string")
    return TokenClaims(user_id=int(subject), generation=generation)
