"""Property-based fuzzing of the whole HTTP API from its own OpenAPI schema (schemathesis).

Every operation gets generated requests, valid and invalid ones, sent through the ASGI app as a
normal user and as staff, inside the test's transaction. No response may be a 5xx, and every
response must match what the schema declares (status code, content type, headers, body). The
machinery is in ``fuzzing.py``, imported when the test runs (see ``_fuzzing``); ``nox -s fuzz``
runs the same test with a bigger budget.
"""

from __future__ import annotations

import importlib
from types import ModuleType

import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from backend.auth.service import issue_token
from backend.config import Settings
from backend.tests.factories import make_user


def _fuzzing() -> ModuleType:
    """The fuzzer, loaded by the first test that runs it: collection and other tests never pay.

    (schemathesis and Hypothesis are not assertion-rewritten: see harness/src/pytest_dbharness/rewriting.py.)
    """
    return importlib.import_module("backend.tests.fuzzing")


@pytest.mark.parametrize("actor", ["user", "staff"])
async def test_no_request_gets_a_server_error_or_breaks_the_schema(
    app: FastAPI, db_session: AsyncSession, settings: Settings, actor: str
) -> None:
    fuzzing = _fuzzing()
    caller = await make_user(db_session, is_staff=actor == "staff")
    token = issue_token(user=caller, key=settings.signing_key, minutes=60)
    tally = await fuzzing.fuzz_as(app, token, lambda: fuzzing.world(db_session, caller))
    fuzzing.report(actor, tally)
