"""``GET /health``: the database answers and its schema is at the newest revision."""

from __future__ import annotations

from fastapi import APIRouter, status
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError

from backend.db import SessionDep
from backend.migrations import current_revision, head_revision

router = APIRouter(tags=["health"])


@router.get("/health", responses={503: {"description": "Database unreachable or not migrated"}})
async def health(session: SessionDep) -> JSONResponse:
    expected = head_revision()
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
