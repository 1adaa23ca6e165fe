"""Request and response bodies of the admin endpoints."""

from __future__ import annotations

import re
from typing import Annotated

from email_validator import EmailNotValidError, validate_email
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StringConstraints,
    WithJsonSchema,
)

from backend.auth.schemas import UserRead
from backend.core.identities import normalize_username
from backend.core.validation import (
    EMAIL_MAX,
    PASSWORD_MAX,
    PASSWORD_MIN,
    PERSON_NAME_MAX,
    SEARCH_MAX,
    USERNAME_MAX,
    NoNul,
    SchemaPattern,
)

USERNAME_RE = re.compile(r"[\w.@+-]+")


def django_username(value: str) -> str:
    """The name NFKC-normalised as Django stores it, then checked by Django's default rule
    (UnicodeUsernameValidator), so users move between the two freely and a look-alike of an
    existing name (a fullwidth ``root``) is that name, which is then taken."""
    value = normalize_username(value)
    if len(value) > USERNAME_MAX:
        raise ValueError(f"must be at most {USERNAME_MAX} characters once NFKC-normalised")
    if not USERNAME_RE.fullmatch(value):
        raise ValueError("may contain only letters, digits and the characters @ . + - _")
    return value


def normalise_email(value: str) -> str:
    """Blank, or a syntactically valid address with its domain normalised (as Django does)."""
    if value == "":
        return value
    try:
        return validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError as error:
        raise ValueError(f"not a valid email address: {error}") from None


Username = Annotated[
    str,
    StringConstraints(min_length=1, max_length=USERNAME_MAX),
    AfterValidator(django_username),
    SchemaPattern(r"^[\w.@+-]+$"),
]
# Django's EmailField allows 254 characters; blank means "no email", as in Django.
Email = Annotated[
    str,
    StringConstraints(max_length=EMAIL_MAX),
    AfterValidator(normalise_email),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "format": "email", "maxLength": EMAIL_MAX},
                {"type": "string", "maxLength": 0, "description": "no email"},
            ]
        }
    ),
]
Password = Annotated[
    str, StringConstraints(min_length=PASSWORD_MIN, max_length=PASSWORD_MAX), NoNul
]
Name = Annotated[str, StringConstraints(max_length=PERSON_NAME_MAX), NoNul]
Search = Annotated[str, StringConstraints(max_length=SEARCH_MAX), NoNul]


class AdminUserRead(UserRead):
    """A user as staff see them."""


class AdminUserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: Username
    email: Email = ""
    password: Password
    first_name: Name = ""
    last_name: Name = ""
    # Strict: the schema says boolean, so 0, 1 and "yes" are refused, not taken for one.
    is_staff: StrictBool = False


class UserFilters(BaseModel):
    """The optional filters of ``GET /admin/users``."""

    q: Search | None = Field(
        default=None,
        description="case-insensitive substring of username, email, first or last name",
    )
    is_active: bool | None = None
    is_staff: bool | None = None
