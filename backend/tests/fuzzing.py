"""The fuzzer test_fuzz.py runs: schemathesis driven from its Python API, Hypothesis in a thread.

Imported by the test itself, not at collection, so that only a process that runs the fuzzer pays for
schemathesis and Hypothesis. Property-based fuzzing of the whole HTTP API from its OpenAPI schema.

Every operation gets generated requests, valid and invalid ones, sent through the ASGI app as a
normal user and as staff, inside the test's transaction. No response may be a 5xx, and every
response must match what the schema declares (status code, content type, headers, body).

Schemathesis's own ASGI client runs the app in an event loop of its own, in another thread; the
test's transaction lives on a connection of the test's event loop, which must not be used from
another loop. So Hypothesis drives generation in a worker thread, and each request is sent by
httpx on the test's loop, to the very ``app`` fixture object, then validated by schemathesis.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import time
from collections.abc import Callable, Coroutine
from typing import Any

import httpx
import hypothesis
import requests
import schemathesis
from fastapi import FastAPI
from hypothesis import strategies as st
from schemathesis import checks
from schemathesis.generation import GenerationMode
from sqlalchemy.ext.asyncio import AsyncSession

from backend.core.validation import NO_NUL_PATTERN
from backend.models import Role, User, Visibility
from backend.tests.factories import make_context, make_entry, make_member, make_user

BASE_URL = "http://testserver"
# The budget per caller: requests per operation (24 operations), and seconds. Each operation gets
# its requests in rounds of ROUND_EXAMPLES, every operation one round after the other; the first
# round always runs in full (every operation and caller is reached), a later one only if, at the
# pace of the rounds before it, it ends within the caller's 1 s (round_fits). In the suite: at
# most 20 per operation, in rounds of 2, so that the first round (48 requests per caller, about
# 0.8 s for staff) fits the 1 s; rounds of 5 made it 117 requests and 1.3-1.9 s, over budget on
# every run. `nox -s fuzz` (and CI) runs 150 per operation with no time limit
# (BACKEND_FUZZ_SECONDS=0), in rounds of 10: each round makes every operation a fresh world.
EXAMPLES_PER_OPERATION = int(os.environ.get("BACKEND_FUZZ_EXAMPLES", "20"))
SECONDS_PER_CALLER = float(os.environ.get("BACKEND_FUZZ_SECONDS", "1"))
ROUND_EXAMPLES = 2 if SECONDS_PER_CALLER else 10
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_headers_conformance,
    checks.response_schema_conformance,
]


def round_settings(examples: int) -> hypothesis.settings:
    """One round's settings. Round n is seeded with n (see ``Fuzzer.fuzz``): the same requests on
    every run and every machine, however many rounds the time allows, so failures reproduce."""
    return hypothesis.settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=list(hypothesis.HealthCheck),
        phases=[hypothesis.Phase.generate, hypothesis.Phase.shrink],
    )


def round_fits(rounds_done: int, elapsed: float, budget: float = SECONDS_PER_CALLER) -> bool:
    """Whether one more round, at the pace of the rounds so far, ends within the caller's budget.

    Starting a round whenever the budget was not yet spent ran a caller up to a round over it
    (staff took 1.96 s of its 1 s); a budget of 0 means no limit.
    """
    if not budget:
        return True
    return elapsed + elapsed / rounds_done <= budget


def rounds(examples: int = EXAMPLES_PER_OPERATION) -> list[int]:
    """How many requests each round asks of every operation: ten rounds of 2 for 20 in the suite."""
    full, rest = divmod(max(examples, 1), ROUND_EXAMPLES)
    return [ROUND_EXAMPLES] * full + ([rest] if rest else [])


@dataclasses.dataclass
class Tally:
    """What the fuzzer sent and what came back, for the report and the assertions."""

    requests: int = 0
    server_errors: list[str] = dataclasses.field(default_factory=list)
    failures: dict[str, str] = dataclasses.field(default_factory=dict)
    statuses: dict[int, int] = dataclasses.field(default_factory=dict)
    operations: set[str] = dataclasses.field(default_factory=set)
    rounds: int = 0

    def count(self, label: str, status: int) -> None:
        self.requests += 1
        self.operations.add(label)
        self.statuses[status] = self.statuses.get(status, 0) + 1
        if status >= 500:
            self.server_errors.append(f"{label}: {status}")


World = Callable[[], Coroutine[Any, Any, dict[str, int]]]


@dataclasses.dataclass
class Fuzzer:
    """Runs in a worker thread; everything touching the app or the database runs on ``loop``."""

    app: FastAPI
    loop: asyncio.AbstractEventLoop
    token: str
    make_world: World
    tally: Tally = dataclasses.field(default_factory=Tally)

    def on_loop(self, coroutine: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=60)

    def run(self, operations: list[Any]) -> None:
        # An unhandled exception becomes the 500 a server would send, counted and checked as one.
        transport = httpx.ASGITransport(app=self.app, raise_app_exceptions=False)
        client = httpx.AsyncClient(transport=transport, base_url=BASE_URL)
        strategies: dict[str, Any] = {}
        started = time.monotonic()
        try:
            for number, examples in enumerate(rounds()):
                if number and not round_fits(number, time.monotonic() - started):
                    break
                for operation in operations:
                    # Fresh data for each operation: an earlier DELETE must not hide the rest.
                    known_ids = self.on_loop(self.make_world())
                    if operation.label not in strategies:
                        strategies[operation.label] = self.strategy(operation, known_ids)
                    self.fuzz(operation, strategies[operation.label], client, number, examples)
                self.tally.rounds += 1
        finally:
            self.on_loop(client.aclose())

    @staticmethod
    def strategy(operation: Any, known_ids: dict[str, int]) -> Any:
        """Valid and invalid requests; with the ids of the first world, some that reach a row.

        Built once per operation (building costs more than a round); later rounds' worlds hold
        the same rows and more, so those ids still exist.
        """
        names = {parameter.name for parameter in operation.path_parameters}
        existing = {name: value for name, value in known_ids.items() if name in names}
        strategies = [
            operation.as_strategy(GenerationMode.POSITIVE),
            operation.as_strategy(GenerationMode.NEGATIVE),
        ]
        if existing:
            # Random ids almost never exist; these reach the code behind the 404.
            strategies.append(
                operation.as_strategy(GenerationMode.POSITIVE, path_parameters=existing)
            )
        return st.one_of(strategies)

    def fuzz(
        self, operation: Any, strategy: Any, client: httpx.AsyncClient, number: int, examples: int
    ) -> None:
        @hypothesis.seed(number)
        @round_settings(examples)
        @hypothesis.given(case=strategy)
        def send_one(case: Any) -> None:
            self.send(case, client)

        try:
            send_one()
        except (Exception, BaseExceptionGroup) as error:  # every operation's, reported at the end
            self.tally.failures.setdefault(operation.label, f"round {number}: {error}")

    def send(self, case: Any, client: httpx.AsyncClient) -> None:
        auth = {"Authorization": f"Bearer {self.token}"}
        kwargs = case.as_transport_kwargs(base_url=BASE_URL, headers=auth)
        # requests' own preparation turns schemathesis's kwargs into the exact bytes to send.
        prepared = requests.Request(
            **{key: kwargs.get(key) for key in REQUEST_KEYS if key in kwargs}
        ).prepare()
        assert prepared.method is not None and prepared.url is not None
        response = self.on_loop(
            client.request(
                prepared.method, prepared.url, headers=dict(prepared.headers), content=prepared.body
            )
        )
        self.tally.count(case.operation.label, response.status_code)
        case.validate_response(response, checks=CHECKS, headers=auth, transport_kwargs=kwargs)


REQUEST_KEYS = ("method", "url", "headers", "params", "json", "data", "files", "cookies")


def no_nul_as_not(node: Any) -> Any:
    """The document with each ``pattern: ^[^\\x00]*$`` said as ``not: {pattern: \\x00}``.

    The same rule (a string holding no NUL), said so that schemathesis does not fold a
    ``maxLength`` into the pattern: ``^[^\\x00]{0,100000}$`` (an entry's body) costs jsonschema-rs
    0.7 s to canonicalize, and it did that seven times per process, half the in-suite fuzzer.
    """
    if isinstance(node, list):
        return [no_nul_as_not(item) for item in node]
    if not isinstance(node, dict):
        return node
    converted = {key: no_nul_as_not(value) for key, value in node.items()}
    if converted.get("pattern") == NO_NUL_PATTERN and "not" not in converted:
        del converted["pattern"]
        converted["not"] = {"pattern": r"\x00"}
    return converted


async def fuzz_as(app: FastAPI, token: str, make_world: World) -> Tally:
    # The document the app serves at /openapi.json, its NUL rule said another way (above).
    schema = schemathesis.openapi.from_dict(no_nul_as_not(app.openapi()))
    operations = [result.ok() for result in schema.get_all_operations()]
    fuzzer = Fuzzer(app, asyncio.get_running_loop(), token, make_world)
    await asyncio.to_thread(fuzzer.run, operations)
    assert fuzzer.tally.operations == {operation.label for operation in operations}
    return fuzzer.tally


async def world(db_session: AsyncSession, actor: User) -> dict[str, int]:
    """Data the fuzzer can reach: a context the actor owns, with a member and an entry."""
    context = await make_context(db_session, owner=actor, visibility=Visibility.SHARED)
    member = await make_user(db_session)
    await make_member(db_session, context=context, user=member, role=Role.EDITOR)
    entry = await make_entry(db_session, context=context)
    return {"context_id": context.id, "entry_id": entry.id, "user_id": member.id}


def report(label: str, tally: Tally) -> None:
    print(  # the figures the issue asks for; shown with -rP
        f"fuzz as {label}: {tally.requests} requests in {tally.rounds} of {len(rounds())} "
        f"round(s), {len(tally.server_errors)} 5xx, "
        f"statuses {dict(sorted(tally.statuses.items()))}"
    )
    assert tally.requests > 0
    assert tally.server_errors == [], tally.server_errors
    assert tally.failures == {}, "\n\n".join(
        f"{label}:\n{message}" for label, message in tally.failures.items()
    )
