"""Measure logins against a served instance: /health latency while 20 logins are in flight, and the
median login time per kind of account behind the username.

Starts `backend serve` on 127.0.0.1 with a scratch SQLite database, loads users with Django hashes
(backend/tests/data/django_hashes.json), measures, stops the server. Run from a checkout:

    uv run python scripts/login_timing.py [--rounds 15] [--port 8765]

Works on older checkouts too (it only uses the CLI and HTTP), which is how the "before" figures
were taken. Prints plain text; nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
HASHES = json.loads((ROOT / "backend/tests/data/django_hashes.json").read_text())
ARGON2_PASSWORD = "a long enough password"  # noqa: S105 - a scratch user's
UV = shutil.which("uv") or "uv"
DJANGO_PASSWORD = HASHES["password"]


def fixture(path: Path) -> None:
    def user(pk: int, name: str, password: str, active: bool = True) -> dict[str, object]:
        fields = {"username": name, "password": password, "is_active": active}
        return {"model": "auth.user", "pk": pk, "fields": fields}

    objects = [
        user(100 + n, f"django-{name}", value)
        for n, (name, value) in enumerate(HASHES["hashes"].items())
        if name != "md5"
    ]
    objects.append(user(200, "inactive-django", HASHES["hashes"]["pbkdf2_sha256"], active=False))
    path.write_text(json.dumps(objects))


def environment(data: Path) -> dict[str, str]:
    return os.environ | {
        "BACKEND_DATA_DIR": str(data),
        "BACKEND_DATABASE_URL": f"sqlite:///{data / 'timing.sqlite3'}",
        "BACKEND_LOGIN_ATTEMPTS_PER_MINUTE": "100000",
        "BACKEND_LOGIN_ATTEMPTS_PER_HOUR_PER_USERNAME": "100000",
    }


def prepare(data: Path) -> None:
    env = environment(data)
    subprocess.run([UV, "run", "backend", "migrate"], env=env, check=True, cwd=ROOT)
    subprocess.run(
        [UV, "run", "backend", "createsuperuser", "--no-input", "--username", "argon2-user",
         "--email", "", "--password", ARGON2_PASSWORD],
        env=env, check=True, cwd=ROOT,
    )  # fmt: skip
    users = data / "users.json"
    fixture(users)
    subprocess.run([UV, "run", "backend", "loaddata", str(users)], env=env, check=True, cwd=ROOT)


async def wait_until_up(client: httpx.AsyncClient) -> None:
    for _ in range(300):
        try:
            if (await client.get("/health")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.1)
    raise SystemExit("the server did not come up")


async def timed(client: httpx.AsyncClient, method: str, url: str, **kwargs: object) -> float:
    started = time.perf_counter()
    await client.request(method, url, **kwargs)  # type: ignore[arg-type]
    return time.perf_counter() - started


async def health_under_logins(client: httpx.AsyncClient) -> tuple[list[float], list[float]]:
    idle = [await timed(client, "GET", "/health") for _ in range(10)]
    logins = [
        asyncio.create_task(
            timed(client, "POST", "/auth/token", data={"username": "argon2-user", "password": f"x{n}"})
        )
        for n in range(20)
    ]  # fmt: skip
    await asyncio.sleep(0.05)  # the logins are in flight
    busy = []
    while not all(task.done() for task in logins) and len(busy) < 10:
        busy.append(await timed(client, "GET", "/health"))
    await asyncio.gather(*logins)
    return idle, busy


KINDS = {
    "unknown user": ("nobody-here", "wrong password"),
    "argon2 user, wrong password": ("argon2-user", "wrong password"),
    "inactive Django user, right password": ("inactive-django", DJANGO_PASSWORD),
    "inactive Django user, wrong password": ("inactive-django", "wrong password"),
    **{
        f"Django {name} user, wrong password": (f"django-{name}", "wrong password")
        for name in HASHES["hashes"]
        if name != "md5"
    },
}


async def login_medians(client: httpx.AsyncClient, rounds: int) -> dict[str, float]:
    samples: dict[str, list[float]] = {kind: [] for kind in KINDS}
    for _ in range(rounds):  # interleaved, so load changes hit every kind alike
        for kind, (username, password) in KINDS.items():
            data = {"username": username, "password": password}
            samples[kind].append(await timed(client, "POST", "/auth/token", data=data))
    return {kind: statistics.median(values) for kind, values in samples.items()}


async def measure(port: int, rounds: int) -> None:
    base = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(base_url=base, timeout=120) as client:
        await wait_until_up(client)
        # Warm up: the first login of each kind (decoy made, padding learnt).
        for username, password in KINDS.values():
            await client.post("/auth/token", data={"username": username, "password": password})
        idle, busy = await health_under_logins(client)
        print(f"GET /health idle: median {statistics.median(idle) * 1000:.0f} ms")
        if busy:
            print(
                f"GET /health with 20 logins in flight: median {statistics.median(busy) * 1000:.0f}"
                f" ms, max {max(busy) * 1000:.0f} ms ({len(busy)} requests)"
            )
        print(f"\nmedian login time per account kind ({rounds} rounds):")
        for kind, seconds in (await login_medians(client, rounds)).items():
            print(f"  {kind:42s} {seconds * 1000:6.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()
    print(f"load before: {os.getloadavg()}", file=sys.stderr)
    with tempfile.TemporaryDirectory() as scratch:
        data = Path(scratch)
        prepare(data)
        server = subprocess.Popen(
            [UV, "run", "backend", "serve", "--host", "127.0.0.1", "--port", str(args.port)],
            env=environment(data), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            asyncio.run(measure(args.port, args.rounds))
        finally:
            server.terminate()
            server.wait(timeout=30)
    print(f"load after: {os.getloadavg()}", file=sys.stderr)


if __name__ == "__main__":
    main()
