"""A free-form JSON document (a context's metadata): what it may hold, and a schema that says so."""

from __future__ import annotations

import json
from typing import Annotated, Any, Union

from pydantic import AfterValidator, GetJsonSchemaHandler, TypeAdapter
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema
from typing_extensions import TypeAliasType

from backend.core.validation import NO_NUL_PATTERN, NoNul, reject_nul

# How deep and how large a document may be, as compact UTF-8 JSON.
MAX_METADATA_DEPTH = 20
MAX_METADATA_BYTES = 64 * 1024


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
            reject_nul(node)
            continue
        if isinstance(node, dict):
            for key in node:
                reject_nul(key)
            children = list(node.values())
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > MAX_METADATA_DEPTH:
            raise ValueError(f"must not be nested more than {MAX_METADATA_DEPTH} levels deep")
        pending.extend((child, depth + 1) for child in children)


class _KeysWithoutNul:
    """Says in the schema that an object's keys hold no NUL (the validators above refuse it)."""

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        json_schema["propertyNames"] = {"pattern": NO_NUL_PATTERN}
        return json_schema


# Only describes documents, for the schema: validation is _check_metadata's, which never recurses.
JsonValue = TypeAliasType(  # type: ignore[misc]
    "JsonValue",
    Union[  # noqa: UP007 (a recursive alias needs the string forward reference)
        Annotated[dict[str, "JsonValue"], _KeysWithoutNul()],  # type: ignore[misc]
        list["JsonValue"],  # type: ignore[misc]
        Annotated[str, NoNul],
        int,
        float,
        bool,
        None,
    ],
)
_DOCUMENT = TypeAdapter(Annotated[dict[str, JsonValue], _KeysWithoutNul()]).core_schema


class _DescribedAsDocument:
    def __get_pydantic_json_schema__(
        self, _schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(_DOCUMENT)
        json_schema["description"] = (
            f"any JSON object without NUL characters, at most {MAX_METADATA_DEPTH} levels deep "
            f"and {MAX_METADATA_BYTES} bytes as compact JSON"
        )
        return json_schema


Metadata = Annotated[dict[str, Any], AfterValidator(_check_metadata), _DescribedAsDocument()]
