"""Request and response bodies of the contexts endpoints, and the limits their values must keep."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
)

from backend.core.json_document import Metadata
from backend.core.validation import (
    CONTEXT_NAME_MAX,
    DESCRIPTION_MAX,
    ENTRY_BODY_MAX,
    SLUG_MAX,
    BodyId,
    NoNul,
)
from backend.models import Role, Visibility

SLUG_PATTERN = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"

CallerRole = Literal["owner", "editor", "viewer"]


class Scope(StrEnum):
    """Which contexts ``GET /contexts`` lists; all of them stay within what the caller may see."""

    ALL = "all"
    OWN = "own"
    SHARED = "shared"  # shared with the caller: the caller is a member
    PUBLIC = "public"  # public ones, the caller's own included


# Constraints come before the NUL check: placed after a validator they would not strip.
Name = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=CONTEXT_NAME_MAX),
    NoNul,
]
Slug = Annotated[str, StringConstraints(max_length=SLUG_MAX, pattern=SLUG_PATTERN)]
Description = Annotated[str, StringConstraints(max_length=DESCRIPTION_MAX), NoNul]
Title = Name
Body = Annotated[str, StringConstraints(max_length=ENTRY_BODY_MAX), NoNul]
UserId = BodyId


class _RequestBody(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _without_null(schema: dict[str, Any]) -> None:
    """The schema of a partial update: its fields may be left out, but none may be null."""
    for field in schema.get("properties", {}).values():
        choices = [choice for choice in field.pop("anyOf", []) if choice != {"type": "null"}]
        if len(choices) == 1:
            field.update(choices[0])
        elif choices:
            field["anyOf"] = choices


class _PartialUpdate(_RequestBody):
    """Fields left out stay as they are; none of them may be set to null."""

    # The fields are typed `X | None` so that "left out" has a default; the schema must not
    # advertise the null that _not_null refuses.
    model_config = ConfigDict(extra="forbid", json_schema_extra=_without_null)

    @field_validator("*")
    @classmethod
    def _not_null(cls, value: object) -> object:
        # Validators do not run on defaults, so this only fires on an explicit null.
        if value is None:
            raise ValueError("may be left out, but not set to null")
        return value


class ContextCreate(_RequestBody):
    name: Name
    slug: Slug | None = None
    description: Description = ""
    visibility: Visibility = Visibility.PRIVATE
    metadata: Metadata = Field(default_factory=dict)


class ContextUpdate(_PartialUpdate):
    name: Name | None = None
    slug: Slug | None = None
    description: Description | None = None
    visibility: Visibility | None = None
    metadata: Metadata | None = None


class ContextRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    owner_id: int
    name: str
    slug: str
    description: str
    visibility: Visibility
    # The model's attribute is ``metadata_`` (SQLAlchemy reserves ``metadata``); JSON says metadata.
    metadata: dict[str, Any] = Field(validation_alias="metadata_")
    created_at: datetime
    updated_at: datetime
    role_of_caller: CallerRole | None = None


class MemberCreate(_RequestBody):
    user_id: UserId
    role: Role = Role.VIEWER


class MemberUpdate(_RequestBody):
    role: Role


class MemberRead(BaseModel):
    user_id: int
    username: str
    role: Role
    created_at: datetime


class EntryCreate(_RequestBody):
    title: Title
    body: Body = ""


class EntryUpdate(_PartialUpdate):
    title: Title | None = None
    body: Body | None = None


class EntryRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    context_id: int
    author_id: int | None
    title: str
    body: str
    created_at: datetime
    updated_at: datetime
