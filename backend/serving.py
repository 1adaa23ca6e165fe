"""Running uvicorn for ``backend serve``: one process or N workers, with slow clients bounded.

uvicorn (0.54) bounds an idle keep-alive connection, but not a request whose headers or body never
finish arriving, nor how many connections are open at once: a client that connects and sends
nothing held its connection indefinitely, and 600 stalled uploads held 390 MB. ``BoundedH11Protocol``
adds those limits to uvicorn's own HTTP/1.1 protocol (its internals, used only here; the tests of
``backend serve`` fail if a uvicorn release changes them).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import Server
from uvicorn.supervisors import ChangeReload, Multiprocess

APP_FACTORY = "backend.app:create_app"
# A refused connection's request is read and discarded this long at most before it is closed, so
# the client reads the refusal instead of a reset (what a lingering close does).
LINGER_SECONDS = 2.0
LINGER_BYTES = 1024 * 1024


@dataclass(frozen=True)
class ClientLimits:
    """How long a request may take to arrive, and how many connections a worker holds at once."""

    header_seconds: float
    body_seconds: float
    max_connections: int


def raw_response(status: int, detail: str, *headers: str) -> bytes:
    """A complete HTTP/1.1 response with a JSON ``detail``, for a connection about to close."""
    body = json.dumps({"detail": detail}).encode()
    head = [
        f"HTTP/1.1 {status} {HTTPStatus(status).phrase}",
        "content-type: application/json",
        f"content-length: {len(body)}",
        "connection: close",
        *headers,
    ]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


class BoundedH11Protocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol, with a deadline for each request's headers and for its body,
    and a cap on open connections (the one over it gets a 503 it can read, then is closed).

    Headers must be complete ``header_seconds`` after the connection opens or the previous
    response ends (uvicorn's keep-alive timeout closes an idle one sooner); a body, its last byte
    ``body_seconds`` after its headers. Past a deadline the client gets a 408 if it had sent part
    of the request and no response has started, and the connection is closed either way. A
    request the app is busy answering has no deadline here.
    """

    def __init__(self, config: uvicorn.Config, *args: Any, **kwargs: Any) -> None:
        super().__init__(config, *args, **kwargs)
        self.limits: ClientLimits = config.client_limits  # type: ignore[attr-defined]
        self._deadline: asyncio.TimerHandle | None = None
        self._waiting_for: str | None = None  # "headers", "body", or None
        self._received = 0  # bytes received while waiting for the current part
        self._lingering = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.limits.max_connections:
            self._refuse(
                HTTPStatus.SERVICE_UNAVAILABLE,
                "the server has as many connections as it takes; try again shortly",
                "retry-after: 1",
            )
            return
        self._wait_for("headers", self.limits.header_seconds)

    def data_received(self, data: bytes) -> None:
        if self._lingering:
            self._received += len(data)
            if self._received > LINGER_BYTES:
                self.transport.close()
            return
        self._received += len(data)
        super().data_received(data)
        self._follow_the_request()

    def eof_received(self) -> None:
        if self._lingering:
            self.transport.close()
        return super().eof_received()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._follow_the_request()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_deadline()
        super().connection_lost(exc)

    def _follow_the_request(self) -> None:
        """Start, keep or stop the deadline for what the request is at now (h11's client state)."""
        if self.transport.is_closing():
            return
        state = self.conn.their_state
        if state is h11.IDLE:
            self._wait_for("headers", self.limits.header_seconds)
        elif state is h11.SEND_BODY:
            self._wait_for("body", self.limits.body_seconds)
        else:  # the request is all here (or the connection is done): the app has it
            self._cancel_deadline()
            self._waiting_for = None

    def _wait_for(self, part: str, seconds: float) -> None:
        if self._waiting_for == part:
            return  # the deadline runs from when this part began, not from its latest byte
        self._cancel_deadline()
        self._waiting_for, self._received = part, 0
        self._deadline = self.loop.call_later(seconds, self._too_slow, part)

    def _cancel_deadline(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _too_slow(self, part: str) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        cycle = self.cycle if part == "body" else None
        started = cycle is not None and cycle.response_started
        if (self._received or part == "body") and not started:
            self.transport.write(
                raw_response(
                    HTTPStatus.REQUEST_TIMEOUT,
                    f"the request's {part} did not arrive in time; the connection is closed",
                )
            )
        if cycle is not None:
            # The app, if it is waiting for the body, now reads a disconnect and sends nothing.
            cycle.disconnected = True
            cycle.message_event.set()
        self.transport.close()

    def _refuse(self, status: int, detail: str, *headers: str) -> None:
        """Answer ``status`` at once, then read and discard a little before closing."""
        self.transport.write(raw_response(status, detail, *headers))
        self._lingering, self._received = True, 0
        with contextlib.suppress(OSError, NotImplementedError):
            self.transport.write_eof()
        self.loop.call_later(LINGER_SECONDS, self.transport.close)


class ServiceConfig(uvicorn.Config):
    """uvicorn's configuration for this service: the bounded protocol, and a TCP socket.

    For ``--workers`` and ``--reload`` uvicorn binds the socket itself with ``socket.socket(family)``,
    whose ``proto`` is 0; the connections it accepts inherit that, and asyncio only sets
    ``TCP_NODELAY`` on sockets whose ``proto`` is ``IPPROTO_TCP``. Without it, Nagle's algorithm
    and the client's delayed ACK held every response about 40 ms (measured: p50 of a lone client
    8 ms with one process, 51-54 ms with ``--workers 2``). The same file descriptor, re-wrapped so
    that its protocol is read from the kernel, fixes that.
    """

    def __init__(self, *, client_limits: ClientLimits, **kwargs: Any) -> None:
        super().__init__(APP_FACTORY, factory=True, http=BoundedH11Protocol, **kwargs)
        self.client_limits = client_limits

    def bind_socket(self) -> socket.socket:
        sock = super().bind_socket()
        if sock.family not in (socket.AF_INET, socket.AF_INET6):
            return sock
        return socket.socket(fileno=sock.detach())  # family, type and proto from the kernel


def serve(*, host: str, port: int, workers: int, reload: bool, client_limits: ClientLimits) -> None:
    """Serve the app as ``uvicorn.run`` would: one process, N workers, or reloading."""
    config = ServiceConfig(
        host=host, port=port, workers=workers, reload=reload, client_limits=client_limits
    )
    server = Server(config=config)
    # Ctrl-C stops the server and its workers; it is how a user ends the command, not an error.
    with contextlib.suppress(KeyboardInterrupt):
        if config.should_reload:
            ChangeReload(config, target=server.run, sockets=[config.bind_socket()]).run()
        elif workers > 1:
            Multiprocess(config, sockets=[config.bind_socket()]).run()
        else:
            server.run()
