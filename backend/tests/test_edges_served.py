"""HTTP at its edges against a real ``backend serve`` on 127.0.0.1: a 413 every client can read
(directly and through nginx), and slow or stalled clients bounded in time, number and memory.

Every test here is bounded: a fixed number of requests, socket timeouts, servers stopped after.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests
from pytest_dbharness.fixtures.live_server import (
    STOP_SECONDS,
    die_with_parent,
    tcp_listening_socket,
)

from backend.tests.fixtures.live import (
    Launched,
    ServedProcess,
    ServedProcesses,
    launched_for_module,
    served_ahead,
)

MB = 1_000_000
SOCKET_TIMEOUT = 10.0

# The module's servers, one worker each, by the name of the fixture that gives one.
SERVERS: dict[str, dict[str, object]] = {
    # The default limits, for the 413 tests: they share it (none writes; each reads only its
    # own responses).
    "server": {},
    # Small limits, so the slow-client tests take seconds.
    "quick_server": {"header_timeout_seconds": 0.3, "body_timeout_seconds": 0.3},
    "capped_server": {"max_connections": 3, "header_timeout_seconds": 30},
    # The default limits (1 MiB bodies, 100 connections), with deadlines long enough that every
    # upload is still stalled while the memory is read (nothing else uses it: it starts idle).
    "roomy_server": {"header_timeout_seconds": 60, "body_timeout_seconds": 60},
}


def _host_port(server: ServedProcess) -> tuple[str, int]:
    host, port = server.url.removeprefix("http://").split(":")
    return host, int(port)


def assert_413(status: int, body: dict[str, str]) -> None:
    assert status == 413, body
    assert "larger than the limit" in body["detail"]


# --- The module's servers -----------------------------------------------------------------------


# Started at a serial run's first test, long before this module's (fixtures/head_start.py).
HEAD_START = {
    f"edges {name}": served_ahead(name, 1, **settings) for name, settings in SERVERS.items()
}


@pytest.fixture(scope="module")
def _launched(
    request: pytest.FixtureRequest, live_server_processes: ServedProcesses
) -> dict[str, Launched]:
    """The servers this run's tests of the module use: started ahead of the run, or side by side
    at the module's start."""
    plan = {name: (1, settings) for name, settings in SERVERS.items()}
    return launched_for_module(request, live_server_processes, plan, "edges ")


def _module_server(name: str) -> Any:
    """The fixture ``name``: its server of ``SERVERS``, launched at the module's start or now."""

    @pytest.fixture(scope="module", name=name)
    def module_server(
        _launched: dict[str, Launched], live_server_processes: ServedProcesses
    ) -> ServedProcess:
        launched = _launched.get(name) or live_server_processes.launch(1, **SERVERS[name])
        return launched.ready()

    return module_server


server = _module_server("server")
quick_server = _module_server("quick_server")
capped_server = _module_server("capped_server")
roomy_server = _module_server("roomy_server")


# --- The 413 reaches the client ------------------------------------------------------------------


async def test_httpx_async_reads_the_413_of_an_oversized_body(server: ServedProcess) -> None:
    # httpx's AsyncClient got a reset connection 20 times in 20 from 5 MB up when the server
    # closed without reading the body; curl, requests and httpx's sync client were luckier.
    async with httpx.AsyncClient(base_url=server.url, timeout=SOCKET_TIMEOUT) as client:
        for size in (1_100_000, 5 * MB, 12 * MB):
            for _ in range(10):
                response = await client.post("/contexts", content=b"x" * size)
                assert_413(response.status_code, response.json())


def test_sync_clients_and_curl_read_the_413(server: ServedProcess) -> None:
    body = b"x" * (5 * MB)
    response = httpx.post(f"{server.url}/contexts", content=body, timeout=SOCKET_TIMEOUT)
    assert_413(response.status_code, response.json())
    answer = requests.post(f"{server.url}/contexts", data=body, timeout=SOCKET_TIMEOUT)
    assert_413(answer.status_code, answer.json())
    if curl_path := shutil.which("curl"):
        curl = subprocess.run(
            [
                curl_path,
                "-sS",
                "--data-binary",
                "@-",
                "-w",
                "\n%{http_code}",
                f"{server.url}/contexts",
            ],
            input=body,
            capture_output=True,
            timeout=SOCKET_TIMEOUT,
            check=True,
        )
        text, status = curl.stdout.decode().rsplit("\n", 1)
        assert status == "413", curl.stderr
        assert "larger than the limit" in text


# The setting docs/deployment.md shows: nginx in front, with a larger limit of its own.
NGINX_CONF = """
daemon off;
master_process off;
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    client_max_body_size 50m;
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass {upstream};
            proxy_http_version 1.1;
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        }}
    }}
}}
"""


def _nginx() -> str:
    nginx = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")
    if nginx is None:
        if os.environ.get("CI"):
            pytest.fail("nginx is not installed; .ci/run installs it (apt-get install nginx-light)")
        pytest.skip("nginx is not installed (apt-get install nginx-light); CI installs and runs it")
    return nginx


@pytest.fixture
def nginx_in_front(server: ServedProcess, tmp_path: Path) -> Iterator[str]:
    """nginx on a free 127.0.0.1 port, proxying to ``server``; yields its URL."""
    nginx = _nginx()
    with tcp_listening_socket() as probe:
        port = probe.getsockname()[1]
    conf = tmp_path / "nginx.conf"
    conf.write_text(NGINX_CONF.format(dir=tmp_path, port=port, upstream=server.url))
    process = subprocess.Popen(
        [nginx, "-p", str(tmp_path), "-c", str(conf)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
        preexec_fn=die_with_parent,  # gone with pytest, however pytest ends
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 10
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                log = (
                    (tmp_path / "error.log").read_text()
                    if (tmp_path / "error.log").exists()
                    else ""
                )
                raise RuntimeError(f"nginx did not start: {log}")
            time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(STOP_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def test_through_nginx_every_oversized_body_gets_the_backends_413(
    nginx_in_front: str,
) -> None:
    body = b"x" * (5 * MB)
    async with httpx.AsyncClient(base_url=nginx_in_front, timeout=SOCKET_TIMEOUT) as client:

        async def post() -> tuple[int, str]:
            response = await client.post("/contexts", content=body)
            return response.status_code, response.text

        answers = [await post() for _ in range(30)]
        answers += await asyncio.gather(*(post() for _ in range(30)))
    assert Counter(status for status, _ in answers) == {413: 60}
    assert all("larger than the limit" in text for _, text in answers)


# --- Slow clients --------------------------------------------------------------------------------


def _connect(server: ServedProcess) -> socket.socket:
    sock = socket.create_connection(_host_port(server), timeout=SOCKET_TIMEOUT)
    return sock


def _read_until_closed(sock: socket.socket) -> bytes:
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received


PARTIAL_HEADERS = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n"
PARTIAL_BODY = (
    b"POST /auth/token HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\n"
    b"username=someone"
)


async def test_requests_that_stop_arriving_are_cut_off(quick_server: ServedProcess) -> None:
    server = quick_server

    def send_then_stall(data: bytes) -> bytes:
        with _connect(server) as sock:
            sock.sendall(data)
            return _read_until_closed(sock)

    # At once: each waits for its deadline (0.3 s), and the server for none of them.
    silent, headers, body = await asyncio.gather(
        *(asyncio.to_thread(send_then_stall, data) for data in (b"", PARTIAL_HEADERS, PARTIAL_BODY))
    )
    assert silent == b""  # nothing was asked: the connection is just closed
    assert headers.startswith(b"HTTP/1.1 408 ")
    assert b"headers did not arrive in time" in headers
    assert body.startswith(b"HTTP/1.1 408 ")
    assert b"body did not arrive in time" in body
    # The server is none the worse for it.
    async with server.client() as client:
        assert (await client.get("/health")).status_code == 200


def test_a_connection_over_the_cap_gets_a_503_it_can_read(capped_server: ServedProcess) -> None:
    server = capped_server
    held = [_connect(server) for _ in range(3)]
    try:
        response = httpx.get(f"{server.url}/health", timeout=SOCKET_TIMEOUT)
        assert response.status_code == 503, response.text
        assert response.headers["retry-after"] == "1"
        assert "as many connections" in response.json()["detail"]
    finally:
        for sock in held:
            sock.close()
    deadline = time.monotonic() + SOCKET_TIMEOUT
    while httpx.get(f"{server.url}/health", timeout=SOCKET_TIMEOUT).status_code != 200:
        assert time.monotonic() < deadline, "the server did not take connections again"
        time.sleep(0.05)


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for {pid}")


def _unread_bytes(port: int) -> int:
    """Bytes sent to 127.0.0.1:``port`` that its server has not read yet: what the clients' ends
    still hold to send and what the server's ends hold unread (the queues in /proc/net/tcp)."""
    unread = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote, queues = fields[1], fields[2], fields[4]
        to_send, to_read = (int(queue, 16) for queue in queues.split(":"))
        if int(local.rsplit(":", 1)[1], 16) == port:
            unread += to_read
        elif int(remote.rsplit(":", 1)[1], 16) == port:
            unread += to_send
    return unread


def _wait_until_read(port: int) -> None:
    """Until the server has read all that was sent to it (the most it will hold), or 10 s."""
    deadline = time.monotonic() + SOCKET_TIMEOUT
    while _unread_bytes(port) and time.monotonic() < deadline:
        time.sleep(0.02)


STALLED_UPLOADS = 600
# What the docs state: above its idle size, a worker holds at most max_connections bodies of
# max_body_bytes, plus this much for buffers and bookkeeping.
OVERHEAD_MIB = 40


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads RSS from /proc (Linux)")
def test_memory_stays_bounded_under_600_stalled_uploads(roomy_server: ServedProcess) -> None:
    server = roomy_server
    idle = _rss_mib(server.pid)
    head = (
        b"POST /contexts HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: 1048000\r\n\r\n"
    )
    uploads = []
    try:
        for _ in range(STALLED_UPLOADS):
            sock = _connect(server)
            sock.settimeout(2)
            uploads.append(sock)
            # Refused over the cap, the server may close it before it has all of this.
            with contextlib.suppress(OSError):
                sock.sendall(head + b" " * 1_000_000)  # and then nothing more
        _wait_until_read(_host_port(server)[1])
        held = _rss_mib(server.pid) - idle
    finally:
        for sock in uploads:
            sock.close()
    bound = 100 * 1024 * 1024 / 2**20 + OVERHEAD_MIB
    print(f"\n600 stalled uploads: +{held:.0f} MiB over {idle:.0f} MiB idle (bound {bound:.0f})")
    assert held <= bound
