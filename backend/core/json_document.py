"""A free-form JSON document (a context's metadata): what it may hold, how it is written to the
database so it comes back as it was sent on both engines, and a schema that says so.

PostgreSQL keeps documents as JSONB, which stores numbers as ``numeric`` and objects with their
keys sorted. Through it, ``1e+20`` came back as the integer 100000000000000000000 and ``-0.0`` as
``0.0``, while SQLite's JSON text returned them as sent. So: floats are written out in full with a
fraction (``100000000000000000000.0``, which ``numeric`` keeps as a float's digits), negative zero,
which ``numeric`` cannot hold, is refused, and keys are put in JSONB's order on both engines.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Annotated, Any, Union

from pydantic import AfterValidator, GetJsonSchemaHandler, TypeAdapter
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema
from typing_extensions import TypeAliasType

from backend.core.validation import NO_NUL_PATTERN, NoNul, reject_nul

# How deep and how large a document may be, as compact UTF-8 JSON.
MAX_METADATA_DEPTH = 20
MAX_METADATA_BYTES = 64 * 1024


# Placeholders for the floats dumps_document writes itself: NUL never occurs in a document (the
# validators refuse it), so no string of the document can be taken for one.
_PLACEHOLDER = "\x00{}"
_PLACEHOLDER_JSON = re.compile(r'"\\u0000(\d+)"')


def dumps_document(value: Any) -> str:
    """``json.dumps``, except that floats ``numeric`` would read as integers keep a fraction.

    Python writes floats from 1e16 up with an exponent (``1e+20``); ``numeric`` takes that for an
    integer. Written in full with ``.0`` it stays a float's value, and reads back as a float.
    """
    written: list[str] = []

    def placeholder(number: float) -> str:
        written.append(format(Decimal(repr(number)), "f") + ".0")
        return _PLACEHOLDER.format(len(written) - 1)

    encoded = json.dumps(_replace_floats(value, placeholder), separators=(",", ":"))
    if not written:
        return encoded
    return _PLACEHOLDER_JSON.sub(lambda match: written[int(match[1])], encoded)


def _replace_floats(value: Any, replace: Callable[[float], str]) -> Any:
    if isinstance(value, float) and math.isfinite(value) and "e+" in repr(value):
        return replace(value)
    if isinstance(value, dict):
        return {key: _replace_floats(item, replace) for key, item in value.items()}
    if isinstance(value, list):
        return [_replace_floats(item, replace) for item in value]
    return value


def _jsonb_order(value: Any) -> Any:
    """Objects with their keys in JSONB's order (shorter first, then by UTF-8 bytes), at every
    level: both engines then give back the same document, key order included."""
    if isinstance(value, dict):
        keys = sorted(value, key=lambda key: (len(key.encode()), key.encode()))
        return {key: _jsonb_order(value[key]) for key in keys}
    if isinstance(value, list):
        return [_jsonb_order(item) for item in value]
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
    # Checked at most MAX_METADATA_DEPTH deep (above), so recursing is safe from here on.
    return dict(_jsonb_order(value))


def _check_json_tree(document: dict[str, Any]) -> None:
    """Refuse documents nested too deeply or holding NUL characters, without recursing."""
    pending: list[tuple[Any, int]] = [(document, 1)]
    while pending:
        node, depth = pending.pop()
        if isinstance(node, str):
            reject_nul(node)
            continue
        if isinstance(node, float) and node == 0.0 and math.copysign(1.0, node) < 0:
            raise ValueError(
                "-0.0 cannot be stored as sent: PostgreSQL's JSONB has no negative zero and would "
                "return 0.0; send 0.0 (or 0)"
            )
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
            f"any JSON object without NUL characters or -0.0, at most {MAX_METADATA_DEPTH} levels "
            f"deep and {MAX_METADATA_BYTES} bytes as compact JSON; it comes back as sent, its "
            "objects' keys in PostgreSQL's JSONB order (shorter first, then by UTF-8 bytes)"
        )
        return json_schema


Metadata = Annotated[dict[str, Any], AfterValidator(_check_metadata), _DescribedAsDocument()]
