"""How much a request may cost the server: the body limit (413), the size of a 422's echo, and
no worker thread for what a route depends on."""

from __future__ import annotations

import inspect
import json
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.security import OAuth2PasswordRequestForm

from backend.config import Settings
from backend.core.validation import ECHO_MAX, ENTRY_BODY_MAX
from backend.models import Visibility
from backend.tests.fixtures.contexts import CastFor

CHUNK = 64 * 1024


def over_the_limit(settings: Settings) -> bytes:
    return b"{" + b" " * settings.max_body_bytes + b"}"


async def chunks(body: bytes) -> AsyncIterator[bytes]:
    """The body as a stream without Content-Length (chunked on a real connection)."""
    for start in range(0, len(body), CHUNK):
        yield body[start : start + CHUNK]


def assert_too_large(response: httpx.Response, settings: Settings) -> None:
    assert response.status_code == 413, response.text
    assert response.headers["content-type"] == "application/json"
    assert str(settings.max_body_bytes) in response.json()["detail"]


def test_the_default_limit_is_one_mebibyte() -> None:
    assert Settings(_env_file=None).max_body_bytes == 1024 * 1024


@pytest.mark.parametrize("path", ["/contexts", "/auth/token", "/admin/users", "/health"])
async def test_a_declared_oversized_body_is_refused_before_authentication(
    client: httpx.AsyncClient, settings: Settings, path: str
) -> None:
    response = await client.post(path, content=over_the_limit(settings))
    assert_too_large(response, settings)


async def test_a_streamed_oversized_body_is_cut_off_at_the_limit(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    response = await client.post("/contexts", content=chunks(over_the_limit(settings)))
    assert "content-length" not in response.request.headers
    assert_too_large(response, settings)


async def test_a_body_of_exactly_the_limit_is_served(cast_for: CastFor, settings: Settings) -> None:
    cast = await cast_for(Visibility.PRIVATE)
    document = json.dumps({"title": "padded"}).encode()
    body = document[:-1] + b" " * (settings.max_body_bytes - len(document)) + b"}"
    assert len(body) == settings.max_body_bytes
    response = await cast.clients["owner"].post(
        cast.entries_path(), content=chunks(body), headers={"content-type": "application/json"}
    )
    assert response.status_code == 201, response.text


async def test_a_refused_long_value_is_echoed_as_a_short_prefix(cast_for: CastFor) -> None:
    cast = await cast_for(Visibility.PRIVATE)
    long_body = "b" * (ENTRY_BODY_MAX + 1)
    response = await cast.clients["owner"].post(
        cast.entries_path(), json={"title": "fine", "body": long_body}
    )
    assert response.status_code == 422, response.text[:200]
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "body"]
    assert error["input"] == "b" * ECHO_MAX + "…"
    assert len(response.content) < 1000


async def test_a_refused_large_object_is_not_echoed(cast_for: CastFor) -> None:
    cast = await cast_for(Visibility.PRIVATE)
    # Not an object where one is expected: the whole value is what is refused.
    response = await cast.clients["owner"].post(cast.entries_path(), json=["x" * 100_000])
    assert response.status_code == 422, response.text[:200]
    assert len(response.content) < 1000
    assert all("input" not in error for error in response.json()["detail"])


def _with_sub_dependencies(dependant: Dependant) -> Iterator[Dependant]:
    yield dependant
    for sub_dependant in dependant.dependencies:
        yield from _with_sub_dependencies(sub_dependant)


def _runs_on_the_event_loop(call: object) -> bool:
    """Whether FastAPI awaits ``call`` (a coroutine or async generator function, or an object
    whose ``__call__`` is one) rather than sending it to a worker thread."""
    function = call if inspect.isfunction(call) else getattr(call, "__call__", call)  # noqa: B004
    return inspect.iscoroutinefunction(function) or inspect.isasyncgenfunction(function)


# FastAPI's own form class, built from the login form's fields: one request in a thousand, which
# then hashes the password on a worker thread anyway.
ON_A_WORKER_THREAD = {("POST", "/auth/token", OAuth2PasswordRequestForm)}


def test_no_endpoint_or_dependency_waits_for_a_worker_thread(app: FastAPI) -> None:
    # A plain function is run on anyio's worker threads: a hop each time, and one of the pool's
    # 40 seats held while it runs, so under load a cheap check queues behind slow ones.
    on_threads = {
        (method, context.path, dependant.call)
        for context in iter_route_contexts(app.routes)
        if isinstance(context.route, APIRoute)
        for dependant in _with_sub_dependencies(context.route.dependant)
        if dependant.call is not None and not _runs_on_the_event_loop(dependant.call)
        for method in context.methods or ()
    }
    assert on_threads == ON_A_WORKER_THREAD
