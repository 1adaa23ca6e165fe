"""The mixed workload, for locust: ``locust -f backend/bench/load/locustfile.py --host URL``.

Of every six requests a simulated user sends, one creates a context, two create entries in its own
context and three read (two context lists, one entry list), with no pause between them (a closed
loop, as many requests in flight as users). ``python -m backend.bench.load`` runs it headless
against a ``backend serve`` it starts; run by hand (or distributed: ``--master`` here, ``--worker
--master-host HOST`` on other machines), it reads its accounts from the environment:

- ``BACKEND_LOAD_TOKENS``: ``user:token,user:token…``, bearer tokens to use; or
- ``BACKEND_LOAD_USERS`` (``user,user…``) and ``BACKEND_LOAD_PASSWORD``: accounts to log into;
- ``BACKEND_LOAD_REQUESTS``: stop after this many requests per locust process (default: no limit;
  ``--run-time`` bounds the run anyway);
- ``BACKEND_LOAD_RESULTS``: a file (``{pid}`` is replaced by the process id) to which each process
  writes the rows the server acknowledged creating, so they can be listed back afterwards.

Accounts are assigned to simulated users in turn. Logging in and creating each user's own context
happen before its first task and are not counted in locust's statistics.
"""

from __future__ import annotations

import itertools
import json
import os
import secrets
import threading
from pathlib import Path
from typing import Any

import requests
from locust import HttpUser, constant, events, task

_lock = threading.Lock()
_requests_sent = itertools.count(1)
# Per account: its token, and the ids of the contexts and entries the server acknowledged (201).
_created: dict[str, dict[str, Any]] = {}


def _accounts(host: str) -> list[tuple[str, str]]:
    tokens = os.environ.get("BACKEND_LOAD_TOKENS", "")
    if tokens:
        return [tuple(pair.split(":", 1)) for pair in tokens.split(",")]  # type: ignore[misc]
    password = os.environ["BACKEND_LOAD_PASSWORD"]
    found = []
    for username in os.environ["BACKEND_LOAD_USERS"].split(","):
        response = requests.post(
            f"{host}/auth/token", data={"username": username, "password": password}, timeout=30
        )
        response.raise_for_status()
        found.append((username, response.json()["access_token"]))
    return found


_assigned = itertools.count()
_account_list: list[tuple[str, str]] = []


class ApiUser(HttpUser):
    wait_time = constant(0)

    def on_start(self) -> None:
        with _lock:
            if not _account_list:
                _account_list.extend(_accounts(self.host or ""))
            self.username, token = _account_list[next(_assigned) % len(_account_list)]
        self.headers = {"Authorization": f"Bearer {token}"}
        # Its own context for its entries, made outside the statistics.
        home = requests.post(
            f"{self.host}/contexts",
            json={"name": f"load home {secrets.token_hex(6)}"},
            headers=self.headers,
            timeout=30,
        )
        home.raise_for_status()
        self.home = home.json()["id"]
        with _lock:
            record = _created.setdefault(
                self.username, {"token": token, "contexts": [], "entries": {}}
            )
            record["contexts"].append(self.home)
            record["entries"].setdefault(str(self.home), [])

    def _budget(self) -> None:
        limit = int(os.environ.get("BACKEND_LOAD_REQUESTS", "0"))
        if limit and next(_requests_sent) > limit and self.environment.runner is not None:
            self.environment.runner.quit()

    def _created_one(self, kind: str, response: Any) -> None:
        if response.status_code == 201:
            with _lock:
                record = _created[self.username]
                if kind == "context":
                    record["contexts"].append(response.json()["id"])
                else:
                    record["entries"][str(self.home)].append(response.json()["id"])

    @task(1)
    def create_context(self) -> None:
        self._budget()
        body = {"name": f"load {secrets.token_hex(6)}"}
        response = self.client.post("/contexts", json=body, headers=self.headers)
        self._created_one("context", response)

    @task(2)
    def create_entry(self) -> None:
        self._budget()
        response = self.client.post(
            f"/contexts/{self.home}/entries",
            json={"title": "load entry", "body": "load"},
            headers=self.headers,
            name="/contexts/[id]/entries",
        )
        self._created_one("entry", response)

    @task(2)
    def list_contexts(self) -> None:
        self._budget()
        self.client.get("/contexts", headers=self.headers)

    @task(1)
    def list_entries(self) -> None:
        self._budget()
        self.client.get(
            f"/contexts/{self.home}/entries", headers=self.headers, name="/contexts/[id]/entries"
        )


def _write_created(**_kwargs: Any) -> None:
    target = os.environ.get("BACKEND_LOAD_RESULTS")
    if target:
        with _lock:
            Path(target.replace("{pid}", str(os.getpid()))).write_text(json.dumps(_created))


events.test_stop.add_listener(_write_created)  # type: ignore[no-untyped-call,unused-ignore]
