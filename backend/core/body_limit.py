"""A request-body size limit, enforced before anything parses the body: 413 with a JSON body.

A pure ASGI middleware: a declared ``Content-Length`` over the limit is refused before a byte is
parsed; a body without one (chunked, or lying) is counted as it streams in and cut off at the limit,
so no request holds more than the limit in memory, whoever sends it and whatever route it names.

The 413 is sent at once, then what remains of the body is read and thrown away (up to
``max_discard_bytes``, within ``discard_seconds``) before the connection closes. Closing on a client
still sending makes its kernel answer the unread data with a reset, and most clients (httpx's
AsyncClient, nginx as a proxy) then report the reset, not the 413: the lingering close nginx
itself does for its own 413.
"""

from __future__ import annotations

import asyncio
import contextlib
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
    def __init__(
        self, app: ASGIApp, *, max_bytes: int, max_discard_bytes: int, discard_seconds: float
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_discard_bytes = max_discard_bytes
        self.discard_seconds = discard_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _declared_length(scope)
        if declared is not None and declared > self.max_bytes:
            await self._refuse(receive, send)
            return
        await _LimitedRequest(self, receive, send).run(scope)

    async def _refuse(self, receive: Receive, send: Send, *, ended: bool = False) -> None:
        """The 413, then the rest of the body discarded (unless the body has ``ended``)."""
        await self._send_413(send)
        if not ended:
            await self._discard(receive)
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _discard(self, receive: Receive) -> None:
        discarded = 0
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.discard_seconds):
                while discarded <= self.max_discard_bytes:
                    message = await receive()
                    if message["type"] != "http.request" or not message.get("more_body"):
                        return
                    discarded += len(message.get("body", b""))

    async def _send_413(self, send: Send) -> None:
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
                    # The rest of the body is discarded, not read: no request can follow it.
                    (b"connection", b"close"),
                ],
            }
        )
        # more_body: the response ends once the rest of the request has been read (_refuse).
        await send({"type": "http.response.body", "body": body, "more_body": True})


class _LimitedRequest:
    """One request whose body is counted as the app reads it."""

    def __init__(self, limit: BodyLimitMiddleware, receive: Receive, send: Send) -> None:
        self.limit = limit
        self.receive = receive
        self.send = send
        self.received = 0
        self.too_large = False
        self.started = False
        self.body_ended = False
        self.disconnected = False

    async def run(self, scope: Scope) -> None:
        try:
            await self.limit.app(scope, self.counted_receive, self.guarded_send)
        except Exception:
            # _BodyTooLarge itself, or whatever the app made of it; or the client left mid-body
            # (or was cut off as too slow), with nobody left to answer. Any other error is the app's.
            if not (self.too_large or self.disconnected):
                raise
        if self.too_large and not self.started:
            await self.limit._refuse(self.receive, self.send, ended=self.body_ended)

    async def counted_receive(self) -> Message:
        if self.too_large:
            raise _BodyTooLarge
        message = await self.receive()
        if message["type"] == "http.disconnect":
            self.disconnected = True
        elif message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            self.body_ended = not message.get("more_body", False)
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
