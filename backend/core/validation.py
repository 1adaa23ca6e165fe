"""Rules every domain and ``loaddata`` share, so the engines answer alike: NUL, id range, lengths."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import (
    BeforeValidator,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, core_schema

# Ids are INTEGER columns: a larger one would overflow on PostgreSQL and be a mere miss on SQLite.
INT32_MAX = 2**31 - 1
# The same rule as a JSON Schema pattern (ECMA regex), so the schema says what is refused.
NO_NUL_PATTERN = r"^[^\x00]*$"

# Text length limits: the columns' own (VARCHAR, which SQLite does not enforce) and the API's.
USERNAME_MAX = 150  # Django's auth_user.username
PERSON_NAME_MAX = 150  # Django's first_name / last_name
EMAIL_MAX = 254  # Django's EmailField
PASSWORD_HASH_MAX = 128  # auth_user.password
PASSWORD_MAX = 4096
PASSWORD_MIN = 8
CONTEXT_NAME_MAX = 200
SLUG_MAX = 220
DESCRIPTION_MAX = 10_000
ENTRY_BODY_MAX = 100_000
SEARCH_MAX = 254
# How much of a refused value a 422 may echo back (the client has the rest).
ECHO_MAX = 100


def reject_nul(value: str) -> str:
    # PostgreSQL text cannot hold NUL at all and SQLite truncates at it in places: refuse it
    # before either sees it, so both engines answer 422 instead of one storing it and the other failing.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


@dataclass(frozen=True)
class SchemaPattern:
    """Declares in the JSON Schema a ``pattern`` that a Python validator beside it enforces.

    The validator keeps its own message; the pattern lets clients (and the fuzzer) know the rule.
    """

    pattern: str

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        json_schema.setdefault("pattern", self.pattern)
        return json_schema


@dataclass(frozen=True)
class _NoNul(SchemaPattern):
    """Refuses NUL (with the message above) and says so in the JSON Schema."""

    pattern: str = NO_NUL_PATTERN

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        return core_schema.no_info_after_validator_function(reject_nul, handler(source))


NoNul = _NoNul()
# A database id; routers bound path ids the same way: Path(ge=1, le=INT32_MAX).
Id = Annotated[int, Field(ge=1, le=INT32_MAX)]


def _json_integer(value: object) -> object:
    # JSON Schema's "integer" is a number with no fraction (1 and 1.0 alike), never a string or a
    # boolean, which pydantic's lax mode would otherwise turn into one.
    if isinstance(value, bool | str):
        raise ValueError("must be an integer")
    return value


# An id in a JSON request body: what the schema's "integer" admits, and nothing more.
BodyId = Annotated[int, Field(ge=1, le=INT32_MAX), BeforeValidator(_json_integer)]
