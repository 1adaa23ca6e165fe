"""``python -m backend.bench.load``: figures for a real ``backend serve`` under concurrent clients.

For each engine (the default SQLite file; PostgreSQL launched the harness's way, or
``--postgres-url``) and each worker count, it serves the app from a real ``backend serve`` process
on 127.0.0.1 and runs a bounded mixed workload at each client count, then prints one table.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from backend.bench.load import servers
from backend.bench.load.traffic import Actor, Tally, missing_rows, percentile, run_mixed

USERS = ("ana", "ben", "cho")
USER_PASSWORD = "load-user-password"  # noqa: S105 - a throwaway database on 127.0.0.1


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m backend.bench.load", description=__doc__)
    parser.add_argument(
        "--engines", nargs="+", choices=("sqlite", "postgres"), default=["sqlite", "postgres"]
    )
    parser.add_argument(
        "--workers", nargs="+", type=int, default=[1, 2], help="uvicorn worker counts"
    )
    parser.add_argument(
        "--clients", nargs="+", type=int, default=[1, 10, 50], help="concurrent clients"
    )
    parser.add_argument("--requests", type=int, default=2000, help="requests per measurement")
    parser.add_argument(
        "--max-seconds", type=float, default=120.0, help="time bound per measurement"
    )
    parser.add_argument(
        "--postgres-url",
        help="use this database instead of launching a server (it gets written to)",
    )
    parser.add_argument("--json", type=Path, help="also write the rows to this file")
    return parser.parse_args(argv)


async def _token(client: httpx.AsyncClient, username: str, password: str) -> str:
    response = await client.post("/auth/token", data={"username": username, "password": password})
    response.raise_for_status()
    return str(response.json()["access_token"])


async def _actors(base_url: str) -> list[Actor]:
    """Three users, each with a context their entries go to (created by the superuser's hand)."""
    actors = []
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        admin = await _token(client, servers.ADMIN_USERNAME, servers.ADMIN_PASSWORD)
        for username in USERS:
            response = await client.post(
                "/admin/users",
                json={"username": username, "email": "", "password": USER_PASSWORD},
                headers={"Authorization": f"Bearer {admin}"},
            )
            response.raise_for_status()
            token = await _token(client, username, USER_PASSWORD)
            home = await client.post(
                "/contexts",
                json={"name": f"{username} home"},
                headers={"Authorization": f"Bearer {token}"},
            )
            home.raise_for_status()
            actors.append(Actor(username=username, token=token, home_context=home.json()["id"]))
    return actors


def _row(engine: str, workers: int, clients: int, tally: Tally, missing: int) -> dict[str, Any]:
    answered = len(tally.latencies)
    return {
        "engine": engine,
        "workers": workers,
        "clients": clients,
        "requests": answered + tally.dropped,
        "2xx": tally.count(200, 300),
        "4xx": tally.count(400, 500),
        "5xx": tally.count(500, 600),
        "dropped": tally.dropped,
        "missing": missing,
        "req_per_s": answered / tally.seconds if tally.seconds else 0.0,
        "p50_ms": percentile(tally.latencies, 0.50) * 1000,
        "p99_ms": percentile(tally.latencies, 0.99) * 1000,
        "load_1min": os.getloadavg()[0],
        "statuses": {str(status): n for status, n in sorted(tally.statuses.items())},
    }


@contextlib.contextmanager
def _database(engine: str, postgres_url: str | None) -> Iterator[tuple[Path, str]]:
    with servers.sqlite_data_dir() as data_dir:
        if engine == "sqlite":
            yield data_dir, ""  # empty: the default file, <data_dir>/backend.sqlite3
            return
        with servers.postgres_database(postgres_url) as url:
            yield data_dir, url


def _measure(engine: str, workers: int, arguments: argparse.Namespace) -> list[dict[str, Any]]:
    rows = []
    # A fresh database per worker count, so every series starts from the same state.
    with _database(engine, arguments.postgres_url) as (data_dir, url):
        servers.prepare(data_dir, url)
        with servers.backend_serve(data_dir, url, workers=workers) as (base_url, _pid):
            actors = asyncio.run(_actors(base_url))
            for clients in arguments.clients:
                tally = asyncio.run(
                    run_mixed(
                        base_url,
                        actors,
                        clients=clients,
                        requests=arguments.requests,
                        max_seconds=arguments.max_seconds,
                    )
                )
                missing = asyncio.run(missing_rows(base_url, actors, tally))
                rows.append(_row(engine, workers, clients, tally, missing))
                print(_format(rows[-1]), flush=True)
    return rows


HEADER = (
    "| engine | workers | clients | requests | 2xx | 4xx | 5xx | dropped | not listed back "
    "| req/s | p50 | p99 | load (1 min) |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|"
)


def _format(row: dict[str, Any]) -> str:
    return (
        f"| {row['engine']} | {row['workers']} | {row['clients']} | {row['requests']:,} | "
        f"{row['2xx']:,} | {row['4xx']:,} | {row['5xx']:,} | {row['dropped']:,} | {row['missing']} | "
        f"{row['req_per_s']:.0f} | {row['p50_ms']:,.0f} ms | {row['p99_ms']:,.0f} ms | "
        f"{row['load_1min']:.2f} |"
    )


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt("SIGTERM")


def main(argv: list[str] | None = None) -> int:
    # SIGTERM unwinds like Ctrl-C, so the servers this run started are stopped on the way out.
    signal.signal(signal.SIGTERM, _interrupt)
    arguments = _arguments(argv)
    print(HEADER, flush=True)
    rows = []
    for engine in arguments.engines:
        for workers in arguments.workers:
            rows += _measure(engine, workers, arguments)
    print("\n" + HEADER)
    for row in rows:
        print(_format(row))
    if arguments.json:
        arguments.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
