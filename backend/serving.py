"""Running uvicorn for ``backend serve``: one process, or N workers on one TCP listening socket."""

from __future__ import annotations

import contextlib
import socket

import uvicorn
from uvicorn.supervisors import Multiprocess

APP_FACTORY = "backend.app:create_app"


class TcpConfig(uvicorn.Config):
    """uvicorn's configuration, with a listening socket that says it is TCP.

    For ``--workers`` and ``--reload`` uvicorn binds the socket itself with ``socket.socket(family)``,
    whose ``proto`` is 0; the connections it accepts inherit that, and asyncio only sets
    ``TCP_NODELAY`` on sockets whose ``proto`` is ``IPPROTO_TCP``. Without it, Nagle's algorithm
    and the client's delayed ACK held every response about 40 ms (measured: p50 of a lone client
    8 ms with one process, 51-54 ms with ``--workers 2``). The same file descriptor, re-wrapped so
    that its protocol is read from the kernel, fixes that.
    """

    def bind_socket(self) -> socket.socket:
        sock = super().bind_socket()
        if sock.family not in (socket.AF_INET, socket.AF_INET6):
            return sock
        return socket.socket(fileno=sock.detach())  # family, type and proto from the kernel


def run_workers(*, host: str, port: int, workers: int) -> None:
    """Serve the app from ``workers`` uvicorn worker processes, as ``uvicorn.run`` would."""
    config = TcpConfig(APP_FACTORY, factory=True, host=host, port=port, workers=workers)
    # Ctrl-C stops the workers; it is how a user ends the command, not an error.
    with contextlib.suppress(KeyboardInterrupt):
        Multiprocess(config, sockets=[config.bind_socket()]).run()
