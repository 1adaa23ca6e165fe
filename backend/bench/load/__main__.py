"""``python -m backend.bench.load``: locust against a real ``backend serve``, headless.

For each engine (the default SQLite file; PostgreSQL launched the harness's way, or
``--postgres-url``) and each worker count, it serves the app from a real ``backend serve`` process
on 127.0.0.1, creates three users, and runs the locustfile's mixed workload at each number of
simulated users, bounded in requests and in time. Locust's CSV files and HTML report are kept in
``--out``; the table printed at the end gives req/s, p50, p99 and failures from them, and how many
rows the server acknowledged (201) are not listed back by the API afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from pytest_dbharness.backends import ENGINES

from backend.bench.load import servers

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
USERS = ("ana", "ben", "cho")
USER_PASSWORD = "load-user-password"  # noqa: S105 - a throwaway database on 127.0.0.1


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m backend.bench.load", description=__doc__)
    parser.add_argument("--engines", nargs="+", choices=tuple(ENGINES), default=list(ENGINES))
    parser.add_argument(
        "--workers", nargs="+", type=int, default=[1, 2], help="uvicorn worker counts"
    )
    parser.add_argument(
        "--clients", nargs="+", type=int, default=[1, 10, 50], help="simulated users"
    )
    parser.add_argument("--requests", type=int, default=2000, help="requests per measurement")
    parser.add_argument("--max-seconds", type=int, default=120, help="time bound per measurement")
    parser.add_argument(
        "--postgres-url",
        help="use this database instead of launching a server (it gets written to)",
    )
    parser.add_argument(
        "--out", type=Path, default=Path("load-results"), help="where locust's reports go"
    )
    parser.add_argument("--json", type=Path, help="also write the rows to this file")
    return parser.parse_args(argv)


async def _tokens(base_url: str) -> str:
    """Three users, created by the superuser's hand; ``user:token,…`` for the locustfile."""
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:

        async def token(username: str, password: str) -> str:
            response = await client.post(
                "/auth/token", data={"username": username, "password": password}
            )
            response.raise_for_status()
            return str(response.json()["access_token"])

        admin = await token(servers.ADMIN_USERNAME, servers.ADMIN_PASSWORD)
        pairs = []
        for username in USERS:
            created = await client.post(
                "/admin/users",
                json={"username": username, "email": "", "password": USER_PASSWORD},
                headers={"Authorization": f"Bearer {admin}"},
            )
            created.raise_for_status()
            pairs.append(f"{username}:{await token(username, USER_PASSWORD)}")
    return ",".join(pairs)


def run_locust(
    base_url: str, tokens: str, clients: int, arguments: argparse.Namespace, prefix: Path
) -> None:
    command = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(LOCUSTFILE),
        "--headless",
        "--host",
        base_url,
        "--users",
        str(clients),
        "--spawn-rate",
        str(clients),
        "--run-time",
        f"{arguments.max_seconds}s",
        "--stop-timeout",
        "10",
        "--csv",
        str(prefix),
        "--html",
        f"{prefix}.html",
        "--only-summary",
        "--exit-code-on-error",
        "0",
        "--loglevel",
        "WARNING",
    ]
    env = os.environ | {
        "BACKEND_LOAD_TOKENS": tokens,
        "BACKEND_LOAD_REQUESTS": str(arguments.requests),
        "BACKEND_LOAD_RESULTS": f"{prefix}-created-{{pid}}.json",
    }
    log = Path(f"{prefix}.log")
    with log.open("w") as output:
        finished = subprocess.run(
            command,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            timeout=arguments.max_seconds + 60,
            check=False,
        )
    if finished.returncode != 0:
        raise RuntimeError(f"locust exited with {finished.returncode}:\n{log.read_text()[-3000:]}")


def read_stats(prefix: Path) -> dict[str, Any]:
    """Locust's aggregated figures, and its failures by kind."""
    with Path(f"{prefix}_stats.csv").open() as file:
        total = next(row for row in csv.DictReader(file) if row["Name"] == "Aggregated")
    failures: dict[str, int] = {}
    with Path(f"{prefix}_failures.csv").open() as file:
        for row in csv.DictReader(file):
            failures[row["Error"]] = failures.get(row["Error"], 0) + int(row["Occurrences"])
    return {
        "requests": int(total["Request Count"]),
        "failures": int(total["Failure Count"]),
        "req_per_s": float(total["Requests/s"]),
        "p50_ms": float(total["50%"]),
        "p99_ms": float(total["99%"]),
        "failure_kinds": failures,
    }


async def _listed(client: httpx.AsyncClient, path: str, token: str, **params: str) -> set[int]:
    found: set[int] = set()
    page, items = 1, [None] * 100
    while len(items) == 100:
        response = await client.get(
            path,
            params={"page": page, "page_size": 100, **params},
            headers={"Authorization": f"Bearer {token}"},
        )
        response.raise_for_status()
        items = response.json()["items"]
        found |= {item["id"] for item in items}
        page += 1
    return found


async def missing_rows(base_url: str, prefix: Path) -> int:
    """How many rows the server acknowledged (201) the API does not list back."""
    missing = 0
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        for results in prefix.parent.glob(f"{prefix.name}-created-*.json"):
            for record in json.loads(results.read_text()).values():
                token = record["token"]
                contexts = await _listed(client, "/contexts", token, scope="own")
                missing += len(set(record["contexts"]) - contexts)
                for home, entries in record["entries"].items():
                    listed = await _listed(client, f"/contexts/{home}/entries", token)
                    missing += len(set(entries) - listed)
    return missing


@contextlib.contextmanager
def _database(engine: str, postgres_url: str | None) -> Iterator[tuple[Path, str]]:
    with servers.sqlite_data_dir() as data_dir:
        if ENGINES[engine].dialect == "sqlite":  # the app's own default database: a file
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
            tokens = asyncio.run(_tokens(base_url))
            for clients in arguments.clients:
                prefix = arguments.out / f"{engine}-{workers}w-{clients}u"
                run_locust(base_url, tokens, clients, arguments, prefix)
                row = {"engine": engine, "workers": workers, "clients": clients}
                row |= read_stats(prefix)
                row["missing"] = asyncio.run(missing_rows(base_url, prefix))
                row["load_1min"] = os.getloadavg()[0]
                rows.append(row)
                print(_format(row), flush=True)
    return rows


HEADER = (
    "| engine | workers | users | requests | failures | not listed back | req/s | p50 | p99 "
    "| load (1 min) |\n|---|---|---|---|---|---|---|---|---|---|"
)


def _format(row: dict[str, Any]) -> str:
    return (
        f"| {row['engine']} | {row['workers']} | {row['clients']} | {row['requests']:,} | "
        f"{row['failures']:,} | {row['missing']} | {row['req_per_s']:.0f} | "
        f"{row['p50_ms']:,.0f} ms | {row['p99_ms']:,.0f} ms | {row['load_1min']:.2f} |"
    )


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt("SIGTERM")


def main(argv: list[str] | None = None) -> int:
    # SIGTERM unwinds like Ctrl-C, so the servers this run started are stopped on the way out.
    signal.signal(signal.SIGTERM, _interrupt)
    arguments = _arguments(argv)
    arguments.out.mkdir(parents=True, exist_ok=True)
    print(HEADER, flush=True)
    rows = []
    for engine in arguments.engines:
        for workers in arguments.workers:
            rows += _measure(engine, workers, arguments)
    print("\n" + HEADER)
    for row in rows:
        print(_format(row))
    for row in rows:
        if row["failure_kinds"]:
            print(
                f"{row['engine']}, {row['workers']} workers, {row['clients']} users: failures "
                f"{row['failure_kinds']}"
            )
    print(f"\nlocust's CSV files and HTML reports: {arguments.out}")
    if arguments.json:
        arguments.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
