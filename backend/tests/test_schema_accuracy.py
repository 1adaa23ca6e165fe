"""The OpenAPI schema says what the API accepts, and OPTIONS, HEAD and 405 answer as RFC 9110 says."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from pytest_dbharness.fixtures.live_server import LiveServer
from sqlalchemy.ext.asyncio import AsyncSession

from backend.core.validation import NO_NUL_PATTERN
from backend.models import User, Visibility
from backend.tests.factories import make_context, make_entry, make_member, make_user
from backend.tests.fixtures.contexts import CastFor

HTTP_METHODS = {"get", "put", "post", "delete", "patch"}


def request_body_schemas(app: FastAPI) -> dict[str, dict[str, Any]]:
    """``"METHOD path"`` -> the resolved JSON schema of its JSON request body."""
    document = app.openapi()
    components = document["components"]["schemas"]
    found = {}
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            content = operation.get("requestBody", {}).get("content", {})
            if "application/json" in content:
                reference = content["application/json"]["schema"]["$ref"]
                found[f"{method.upper()} {path}"] = components[reference.rsplit("/", 1)[1]]
    return found


def test_patch_bodies_do_not_advertise_the_null_they_refuse(app: FastAPI) -> None:
    patches = {
        name: schema for name, schema in request_body_schemas(app).items() if "PATCH" in name
    }
    assert patches
    advertised = [
        f"{name}: {field}"
        for name, schema in patches.items()
        for field, spec in schema["properties"].items()
        if {"type": "null"} in spec.get("anyOf", []) or spec.get("type") == "null"
    ]
    assert advertised == []


async def test_null_in_a_patch_body_is_refused_as_the_schema_says(cast_for: CastFor) -> None:
    cast = await cast_for(Visibility.PRIVATE)
    response = await cast.clients["owner"].patch(cast.path(), json={"name": None})
    assert response.status_code == 422, response.text


def test_every_free_text_field_declares_that_nul_is_refused(app: FastAPI) -> None:
    missing = [
        f"{name}: {field}"
        for name, schema in request_body_schemas(app).items()
        for field, spec in schema["properties"].items()
        for choice in spec.get("anyOf", [spec])
        if choice.get("type") == "string" and "pattern" not in choice and "format" not in choice
        if choice.get("maxLength") != 0  # the blank email
    ]
    assert missing == []


def test_the_admin_email_is_declared_as_an_email_or_blank(app: FastAPI) -> None:
    email = request_body_schemas(app)["POST /admin/users"]["properties"]["email"]
    assert {"type": "string", "format": "email", "maxLength": 254} in email["anyOf"]


async def test_nul_is_refused_where_the_pattern_says(cast_for: CastFor, app: FastAPI) -> None:
    schema = request_body_schemas(app)["POST /contexts/{context_id}/entries"]
    assert schema["properties"]["title"]["pattern"] == NO_NUL_PATTERN
    cast = await cast_for(Visibility.PRIVATE)
    response = await cast.clients["owner"].post(cast.entries_path(), json={"title": "a\x00b"})
    assert response.status_code == 422, response.text


def _concrete(path: str) -> str:
    return path.replace("{context_id}", "1").replace("{entry_id}", "1").replace("{user_id}", "1")


async def test_options_lists_every_method_of_every_path(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    for path, operations in app.openapi()["paths"].items():
        response = await client.options(_concrete(path))
        assert response.status_code == 204, (path, response.text)
        allowed = {method.strip().lower() for method in response.headers["allow"].split(",")}
        assert allowed - {"head", "options"} == set(operations) & HTTP_METHODS, path
        assert "options" in allowed
        assert ("head" in allowed) == ("get" in operations), path


@pytest.mark.parametrize("method", ["PUT", "POST"])
async def test_a_method_not_allowed_names_every_allowed_method(
    client: httpx.AsyncClient, method: str
) -> None:
    response = await client.request(method, "/contexts/1")
    assert response.status_code == 405
    assert "detail" in response.json()
    allowed = {name.strip() for name in response.headers["allow"].split(",")}
    assert allowed == {"GET", "HEAD", "PATCH", "DELETE", "OPTIONS"}


async def _get_paths_with_real_ids(
    app: FastAPI, db_session: AsyncSession, owner: User
) -> list[str]:
    context = await make_context(db_session, owner=owner)
    entry = await make_entry(db_session, context=context)
    member = await make_user(db_session)
    await make_member(db_session, context=context, user=member)
    ids = {"context_id": context.id, "entry_id": entry.id, "user_id": member.id}
    return [
        route.path.format(**ids)
        for route in iter_route_contexts(app.routes)
        if "GET" in (route.methods or set())
    ]


async def test_head_is_answered_wherever_get_is_as_get_without_the_body(
    app: FastAPI, db_session: AsyncSession, superuser: User, superuser_client: httpx.AsyncClient
) -> None:
    paths = await _get_paths_with_real_ids(app, db_session, superuser)
    assert {"/health", "/contexts", "/admin/users", "/openapi.json", "/docs"} <= set(paths)
    for path in paths:
        get = await superuser_client.get(path)
        head = await superuser_client.head(path)
        assert get.status_code == 200, (path, get.text[:200])
        assert head.status_code == get.status_code, (path, head.text[:200])
        assert head.content == b"", path
        assert head.headers["content-type"] == get.headers["content-type"], path
        assert head.headers["content-length"] == str(len(get.content)), path


async def test_head_of_a_refused_get_is_refused_alike(client: httpx.AsyncClient) -> None:
    # Not logged in: the GET is a 401, and so is the HEAD, with the same challenge.
    get, head = await client.get("/contexts"), await client.head("/contexts")
    assert (head.status_code, head.content) == (401, b"")
    assert head.headers["www-authenticate"] == get.headers["www-authenticate"]


async def test_head_through_a_real_server(live_server: LiveServer) -> None:
    async with live_server.client() as client:
        response = await client.head("/health")
    assert response.status_code == 200
    assert response.content == b""
    assert int(response.headers["content-length"]) > 0


async def test_options_on_an_unknown_path_is_a_404(client: httpx.AsyncClient) -> None:
    assert (await client.options("/no/such/path")).status_code == 404


def test_an_id_in_a_body_declares_its_range(app: FastAPI) -> None:
    user_id = request_body_schemas(app)["POST /contexts/{context_id}/members"]["properties"]
    assert user_id["user_id"] == {
        "type": "integer",
        "minimum": 1,
        "maximum": 2**31 - 1,
        "title": "User Id",
    }


def test_metadata_declares_that_nul_is_refused_at_every_level(app: FastAPI) -> None:
    document = app.openapi()["components"]["schemas"]
    metadata = request_body_schemas(app)["POST /contexts"]["properties"]["metadata"]
    assert metadata["propertyNames"] == {"pattern": NO_NUL_PATTERN}
    assert metadata["additionalProperties"] == {"$ref": "#/components/schemas/JsonValue"}
    value = document["JsonValue"]["anyOf"]
    assert {"type": "string", "pattern": NO_NUL_PATTERN} in value
    nested = next(choice for choice in value if choice.get("type") == "object")
    assert nested["propertyNames"] == {"pattern": NO_NUL_PATTERN}


async def test_nul_deep_in_metadata_is_refused_as_the_schema_says(cast_for: CastFor) -> None:
    cast = await cast_for(Visibility.PRIVATE)
    for metadata in ({"a": [{"b": "x\x00"}]}, {"a": {"k\x00": 1}}):
        response = await cast.clients["owner"].patch(cast.path(), json={"metadata": metadata})
        assert response.status_code == 422, response.text
