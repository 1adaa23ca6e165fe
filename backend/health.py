"""``GET /health``: the database answers and its schema is at the newest revision."""

from __future__ import annotations

import functools

from fastapi import APIRouter, status
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError

from backend.db import SessionDep
from backend.migrations import current_revision, head_revision

router = APIRouter(tags=["health"])

# The revision files ship with the code, so their head is read once per process: parsing them
# took 8 ms of blocking file reads and compiles on the event loop, at every health check.
expected_head = functools.cache(head_revision)


@router.get("/health", responses={503: {"description": "Database unreachable or not migrated"}})
async def health(session: SessionDep) -> JSONResponse:
    expected = expected_head()
    try:
        connection = await session.connection()
        revision = await connection.run_sync(current_revision)
    except SQLAlchemyError as error:
        return JSONResponse(
            {"status": "error", "database": f"unreachable: {type(error).__name__}"},
            status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
        )
    body = {"status": "ok", "database": "ok", "revision": revision, "head": expected}
    if revision != expected:
        body |= {"status": "error", "database": "not at head: run `backend migrate`"}
        return JSONResponse(body, status_code=status.HTTP_503_SERVICE_UNAVAILABLE)
    return JSONResponse(body)
