"""A request-body size limit, enforced before anything parses the body: 413 with a JSON body.

A pure ASGI middleware: a declared ``Content-Length`` over the limit is refused before a byte is
read; a body without one (chunked, or lying) is counted as it streams in and cut off at the limit,
so no request holds more than the limit in memory, whoever sends it and whatever route it names.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

TOO_LARGE = 413


class _BodyTooLarge(Exception):
    """Raised from ``receive`` once the body passes the limit; the app never sees more."""


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the server refuses malformed lengths before the app runs
    return None


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _declared_length(scope)
        if declared is not None and declared > self.max_bytes:
            await self._refuse(send)
            return
        await _LimitedRequest(self, receive, send).run(scope)

    async def _refuse(self, send: Send) -> None:
        body = json.dumps(
            {"detail": f"the request body is larger than the limit of {self.max_bytes} bytes"}
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": TOO_LARGE,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    # The rest of the body is not read: the connection cannot carry another request.
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


class _LimitedRequest:
    """One request whose body is counted as the app reads it."""

    def __init__(self, limit: BodyLimitMiddleware, receive: Receive, send: Send) -> None:
        self.limit = limit
        self.receive = receive
        self.send = send
        self.received = 0
        self.too_large = False
        self.started = False

    async def run(self, scope: Scope) -> None:
        try:
            await self.limit.app(scope, self.counted_receive, self.guarded_send)
        except Exception:
            # _BodyTooLarge itself, or whatever the app made of it; any other error is the app's.
            if not self.too_large:
                raise
        if self.too_large and not self.started:
            await self.limit._refuse(self.send)

    async def counted_receive(self) -> Message:
        if self.too_large:
            raise _BodyTooLarge
        message = await self.receive()
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            if self.received > self.limit.max_bytes:
                self.too_large = True
                raise _BodyTooLarge
        return message

    async def guarded_send(self, message: Message) -> None:
        # Frameworks turn an error while reading the body into a 400 of their own; once the
        # body is over the limit, the 413 is what the client gets instead.
        if self.too_large:
            return
        self.started = True
        await self.send(message)
