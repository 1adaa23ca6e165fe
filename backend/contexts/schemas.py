"""Request and response bodies of the contexts endpoints, and the limits their values must keep."""

from __future__ import annotations

import json
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
)

from backend.models import Role, Visibility

MAX_METADATA_DEPTH = 20
MAX_METADATA_BYTES = 64 * 1024
INT32_MAX = 2**31 - 1  # ids are INTEGER columns; larger values would overflow on either engine
SLUG_PATTERN = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"

CallerRole = Literal["owner", "editor", "viewer"]


class Scope(StrEnum):
    """Which contexts ``GET /contexts`` lists; all of them stay within what the caller may see."""

    ALL = "all"
    OWN = "own"
    SHARED = "shared"  # shared with the caller: the caller is a member
    PUBLIC = "public"  # public ones, the caller's own included


def _reject_nul(value: str) -> str:
    # PostgreSQL cannot store NUL in text; refusing it here makes SQLite answer the same way.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


def _check_metadata(value: dict[str, Any]) -> dict[str, Any]:
    _check_json_tree(value)
    try:
        # Compact UTF-8 is the size the document roughly takes in the database. NaN and
        # Infinity are not JSON: PostgreSQL refuses them, so SQLite must not accept them either.
        encoded = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except ValueError as error:
        raise ValueError(f"not a valid JSON document: {error}") from None
    if len(encoded.encode()) > MAX_METADATA_BYTES:
        raise ValueError(f"must be at most {MAX_METADATA_BYTES} bytes as JSON")
    return value


def _check_json_tree(document: dict[str, Any]) -> None:
    """Refuse documents nested too deeply or holding NUL characters, without recursing."""
    pending: list[tuple[Any, int]] = [(document, 1)]
    while pending:
        node, depth = pending.pop()
        if isinstance(node, str):
            _reject_nul(node)
            continue
        if isinstance(node, dict):
            for key in node:
                _reject_nul(key)
            children = list(node.values())
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > MAX_METADATA_DEPTH:
            raise ValueError(f"must not be nested more than {MAX_METADATA_DEPTH} levels deep")
        pending.extend((child, depth + 1) for child in children)


# Constraints come before the NUL check: placed after a validator they would not strip.
NoNul = AfterValidator(_reject_nul)
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), NoNul]
Slug = Annotated[str, StringConstraints(max_length=220, pattern=SLUG_PATTERN)]
Description = Annotated[str, StringConstraints(max_length=10_000), NoNul]
Metadata = Annotated[dict[str, Any], AfterValidator(_check_metadata)]
Title = Name
Body = Annotated[str, StringConstraints(max_length=100_000), NoNul]
UserId = Annotated[int, Field(ge=1, le=INT32_MAX)]


class _RequestBody(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _PartialUpdate(_RequestBody):
    """Fields left out stay as they are; none of them may be set to null."""

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
