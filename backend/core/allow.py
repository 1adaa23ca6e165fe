"""``OPTIONS``, ``HEAD`` and ``405`` as RFC 9110 has them: ``Allow`` names every method of the path.

Starlette answers ``OPTIONS`` with 405, and its 405s name only the methods of the first route whose
path matched, while one path here is often several routes (GET, PATCH and DELETE of a context).
FastAPI's routes serve only the methods they declare, so ``HEAD`` was a 405 wherever ``GET`` was
served, which RFC 9110 §9.1 does not allow: a ``HEAD`` there is answered as the ``GET`` would be,
headers and status alike, without the body. The methods are computed from the app's routes, so
they cannot drift from what is served.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

NO_CONTENT = 204
METHOD_NOT_ALLOWED = 405


def _served_methods(app: FastAPI, scope: Scope) -> set[str]:
    """The methods the routes at the scope's path declare themselves."""
    methods: set[str] = set()
    # Included routers are flattened here: app.routes holds them as single entries.
    for route in iter_route_contexts(app.routes):
        match, _ = route.matches(scope)
        if match is not Match.NONE:
            methods |= route.methods or set()
    return methods


def allowed_methods(app: FastAPI, scope: Scope) -> set[str]:
    """Every method the scope's path answers (HEAD wherever GET, and OPTIONS); empty if none."""
    methods = _served_methods(app, scope)
    if "GET" in methods:
        methods.add("HEAD")
    return methods | {"OPTIONS"} if methods else set()


def _allow_header(methods: set[str]) -> tuple[bytes, bytes]:
    return b"allow", ", ".join(sorted(methods)).encode()


class AllowMiddleware:
    """Answers ``OPTIONS`` for paths the app serves, and completes the ``Allow`` of its 405s."""

    def __init__(self, app: ASGIApp, *, routes_of: FastAPI) -> None:
        self.app = app
        self.routes_of = routes_of  # the FastAPI app, whose routes are read at request time

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["method"] == "OPTIONS":
            methods = allowed_methods(self.routes_of, scope)
            if methods:
                await send(
                    {
                        "type": "http.response.start",
                        "status": NO_CONTENT,
                        "headers": [_allow_header(methods)],
                    }
                )
                await send({"type": "http.response.body", "body": b""})
                return

        if scope["method"] == "HEAD":
            served = _served_methods(self.routes_of, scope)
            if "GET" in served and "HEAD" not in served:
                await self.app({**scope, "method": "GET"}, receive, _without_body(send))
                return

        async def send_with_full_allow(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == METHOD_NOT_ALLOWED:
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"allow"]
                headers.append(_allow_header(allowed_methods(self.routes_of, scope)))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_full_allow)


def _without_body(send: Send) -> Send:
    """The GET's response for a HEAD: its status and headers (Content-Length too), no body."""

    async def send_head(message: Message) -> None:
        if message["type"] == "http.response.body":
            message = {**message, "body": b""}
        await send(message)

    return send_head
