"""Property-based fuzzing of the whole HTTP API from its own OpenAPI schema (schemathesis).

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
from collections.abc import Callable, Coroutine
from typing import Any

import httpx
import hypothesis
import pytest
import requests
import schemathesis
from fastapi import FastAPI
from hypothesis import strategies as st
from schemathesis import checks
from schemathesis.generation import GenerationMode
from sqlalchemy.ext.asyncio import AsyncSession

from backend.auth.service import issue_token
from backend.config import Settings
from backend.models import Role, User, Visibility
from backend.tests.factories import make_context, make_entry, make_member, make_user

BASE_URL = "http://testserver"
# Requests per operation and caller (24 operations): 884 in all, 13-16 s for both callers on either
# engine here. 150 (6,604 requests per engine) found nothing more when tried once.
EXAMPLES_PER_OPERATION = 20
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_headers_conformance,
    checks.response_schema_conformance,
]
FUZZ_SETTINGS = hypothesis.settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    derandomize=True,  # the same requests on every run and every machine: failures reproduce
    database=None,
    suppress_health_check=list(hypothesis.HealthCheck),
    phases=[hypothesis.Phase.generate, hypothesis.Phase.shrink],
)


@dataclasses.dataclass
class Tally:
    """What the fuzzer sent and what came back, for the report and the assertions."""

    requests: int = 0
    server_errors: list[str] = dataclasses.field(default_factory=list)
    failures: dict[str, str] = dataclasses.field(default_factory=dict)
    statuses: dict[int, int] = dataclasses.field(default_factory=dict)
    operations: set[str] = dataclasses.field(default_factory=set)

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
        try:
            for operation in operations:
                # Fresh data for each operation: an earlier DELETE must not hide the rest.
                self.fuzz(operation, client, self.on_loop(self.make_world()))
        finally:
            self.on_loop(client.aclose())

    def fuzz(self, operation: Any, client: httpx.AsyncClient, known_ids: dict[str, int]) -> None:
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

        @FUZZ_SETTINGS
        @hypothesis.given(case=st.one_of(strategies))
        def send_one(case: Any) -> None:
            self.send(case, client)

        try:
            send_one()
        except (Exception, BaseExceptionGroup) as error:  # every operation's, reported at the end
            self.tally.failures[operation.label] = str(error)

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


async def _fuzz_as(app: FastAPI, token: str, make_world: World) -> Tally:
    # The same document the app serves at /openapi.json.
    schema = schemathesis.openapi.from_dict(app.openapi())
    operations = [result.ok() for result in schema.get_all_operations()]
    fuzzer = Fuzzer(app, asyncio.get_running_loop(), token, make_world)
    await asyncio.to_thread(fuzzer.run, operations)
    assert fuzzer.tally.operations == {operation.label for operation in operations}
    return fuzzer.tally


async def _world(db_session: AsyncSession, actor: User) -> dict[str, int]:
    """Data the fuzzer can reach: a context the actor owns, with a member and an entry."""
    context = await make_context(db_session, owner=actor, visibility=Visibility.SHARED)
    member = await make_user(db_session)
    await make_member(db_session, context=context, user=member, role=Role.EDITOR)
    entry = await make_entry(db_session, context=context)
    return {"context_id": context.id, "entry_id": entry.id, "user_id": member.id}


def _report(label: str, tally: Tally) -> None:
    print(  # the figures the issue asks for; shown with -rP
        f"fuzz as {label}: {tally.requests} requests, {len(tally.server_errors)} 5xx, "
        f"statuses {dict(sorted(tally.statuses.items()))}"
    )
    assert tally.requests > 0
    assert tally.server_errors == [], tally.server_errors
    assert tally.failures == {}, "\n\n".join(
        f"{label}:\n{message}" for label, message in tally.failures.items()
    )


@pytest.mark.parametrize("actor", ["user", "staff"])
async def test_no_request_gets_a_server_error_or_breaks_the_schema(
    app: FastAPI, db_session: AsyncSession, settings: Settings, actor: str
) -> None:
    caller = await make_user(db_session, is_staff=actor == "staff")
    token = issue_token(user=caller, key=settings.signing_key, minutes=60)
    tally = await _fuzz_as(app, token, lambda: _world(db_session, caller))
    _report(actor, tally)
