"""Request and response bodies of the auth endpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints

from backend.core.validation import PASSWORD_MAX, PASSWORD_MIN, NoNul

# As for new users in the admin API.
NewPassword = Annotated[
    str, StringConstraints(min_length=PASSWORD_MIN, max_length=PASSWORD_MAX), NoNul
]


class Token(BaseModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth2 token type, not a secret
    expires_in: int


class UserRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    username: str
    email: str
    first_name: str
    last_name: str
    is_active: bool
    is_staff: bool
    is_superuser: bool
    date_joined: datetime
    last_login: datetime | None


class PasswordChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    current_password: Annotated[str, StringConstraints(max_length=PASSWORD_MAX), NoNul]
    new_password: NewPassword
