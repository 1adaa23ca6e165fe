"""``python -m backend.bench.load.edges``: what the edge limits cost a real ``backend serve``.

Two figures, on 127.0.0.1, bounded: the server CPU time spent reading and discarding oversized
bodies so that clients can read their 413 (against a server that discards nothing), and the
server's memory while 600 clients hold stalled uploads.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import socket
import sys
import time
from pathlib import Path

import httpx

from backend.bench.load import servers

MB = 1_000_000


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


async def _oversized(base_url: str, size: int, count: int) -> dict[str, int]:
    outcomes: dict[str, int] = {}
    body = b"x" * size
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        for _ in range(count):
            try:
                outcome = str((await client.post("/contexts", content=body)).status_code)
            except httpx.TransportError as error:
                outcome = type(error).__name__
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
    return outcomes


def discard_cost(data_dir: Path, size: int, count: int) -> None:
    for discard in (0, 16 * 1024 * 1024):
        settings = {"BACKEND_MAX_DISCARDED_BODY_BYTES": str(discard)}
        with servers.backend_serve(data_dir, "", workers=1, settings=settings) as (url, pid):
            cpu, started = _cpu_seconds(pid), time.perf_counter()
            outcomes = asyncio.run(_oversized(url, size, count))
            wall, cpu = time.perf_counter() - started, _cpu_seconds(pid) - cpu
        print(
            f"| {size / MB:.0f} MB x {count} | discard up to {discard:,} B | {outcomes} | "
            f"{cpu / count * 1000:.1f} ms | {wall / count * 1000:.0f} ms | "
            f"{os.getloadavg()[0]:.2f} |",
            flush=True,
        )


def stalled_uploads(data_dir: Path, count: int) -> None:
    settings = {"BACKEND_HEADER_TIMEOUT_SECONDS": "60", "BACKEND_BODY_TIMEOUT_SECONDS": "60"}
    head = (
        b"POST /contexts HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: 1048000\r\n\r\n"
    )
    with servers.backend_serve(data_dir, "", workers=1, settings=settings) as (url, pid):
        host, port = url.removeprefix("http://").split(":")
        idle, uploads = _rss_mib(pid), []
        try:
            for _ in range(count):
                sock = socket.create_connection((host, int(port)), timeout=2)
                uploads.append(sock)
                with contextlib.suppress(OSError):  # refused over the cap
                    sock.sendall(head + b" " * 1_000_000)
            time.sleep(1)
            held = _rss_mib(pid)
        finally:
            for sock in uploads:
                sock.close()
        time.sleep(1)
        after = _rss_mib(pid)
    print(
        f"| {count} stalled uploads of 1 MB | {idle:.0f} MiB | {held:.0f} MiB "
        f"(+{held - idle:.0f}) | {after:.0f} MiB | {os.getloadavg()[0]:.2f} |"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m backend.bench.load.edges", description=__doc__)
    parser.add_argument("--size", type=int, default=5 * MB, help="bytes per oversized body")
    parser.add_argument("--count", type=int, default=50, help="oversized bodies per server")
    parser.add_argument("--stalled", type=int, default=600, help="stalled uploads")
    arguments = parser.parse_args(argv)
    with servers.sqlite_data_dir() as data_dir:
        servers.prepare(data_dir, "")
        print("| bodies | server | outcomes | server CPU per body | wall per body | load |")
        print("|---|---|---|---|---|---|")
        discard_cost(data_dir, arguments.size, arguments.count)
        print("\n| uploads | idle | held | after closing | load |\n|---|---|---|---|---|")
        stalled_uploads(data_dir, arguments.stalled)
    return 0


if __name__ == "__main__":
    sys.exit(main())
