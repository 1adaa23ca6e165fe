"""Under the harness's dependency override, a request analyses no dependency that an earlier one
did (harness/src/pytest_dbharness/fastapi_overrides.py): FastAPI's per-request rebuild is memoised.

It fails when FastAPI changes how it rebuilds overridden dependencies so that the memo no longer
takes effect: then every request of every test pays the analysis again.
"""

from __future__ import annotations

import fastapi.dependencies.utils as fastapi_dependencies
import httpx
import pytest
from pytest_dbharness import fastapi_overrides


async def test_a_request_under_the_override_analyses_no_dependency_again(
    user_client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert fastapi_overrides.installed()
    assert (await user_client.get("/contexts")).status_code == 200
    analysed: list[object] = []
    analyse = fastapi_dependencies.get_typed_signature

    def counted(call: object) -> object:
        analysed.append(call)
        return analyse(call)  # type: ignore[arg-type]

    monkeypatch.setattr(fastapi_dependencies, "get_typed_signature", counted)
    assert (await user_client.get("/contexts")).status_code == 200
    assert analysed == []
