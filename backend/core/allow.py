"""``OPTIONS`` and ``405`` as RFC 9110 has them: an ``Allow`` header naming every method of the path.

Starlette answers ``OPTIONS`` with 405, and its 405s name only the methods of the first route whose
path matched, while one path here is often several routes (GET, PATCH and DELETE of a context).
The methods are computed from the app's routes, so they cannot drift from what is served.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

NO_CONTENT = 204
METHOD_NOT_ALLOWED = 405


def allowed_methods(app: FastAPI, scope: Scope) -> set[str]:
    """Every method some route serves at the scope's path (OPTIONS included); empty if none."""
    methods: set[str] = set()
    # Included routers are flattened here: app.routes holds them as single entries.
    for route in iter_route_contexts(app.routes):
        match, _ = route.matches(scope)
        if match is not Match.NONE:
            methods |= route.methods or set()
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

        async def send_with_full_allow(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == METHOD_NOT_ALLOWED:
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"allow"]
                headers.append(_allow_header(allowed_methods(self.routes_of, scope)))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_full_allow)
