"""Domain errors and the handlers that turn them (and database errors) into JSON responses."""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import FastAPI, Request, status
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import DataError, IntegrityError

from backend.core.validation import ECHO_MAX

logger = logging.getLogger(__name__)


class DomainError(Exception):
    status_code = status.HTTP_400_BAD_REQUEST

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NotFound(DomainError):
    status_code = status.HTTP_404_NOT_FOUND


class Forbidden(DomainError):
    status_code = status.HTTP_403_FORBIDDEN


class Conflict(DomainError):
    status_code = status.HTTP_409_CONFLICT


class Unprocessable(DomainError):
    status_code = status.HTTP_422_UNPROCESSABLE_CONTENT


async def _domain_error(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, DomainError)
    return JSONResponse({"detail": error.detail}, status_code=error.status_code)


async def _integrity_error(_request: Request, error: Exception) -> JSONResponse:
    # Services translate the conflicts they expect; this is the net for the ones they do not,
    # so a constraint the database enforces is a 409 on both engines, never a 500.
    logger.info("integrity error reached the handler: %s", error)
    return JSONResponse(
        {"detail": "the request conflicts with existing data"},
        status_code=status.HTTP_409_CONFLICT,
    )


async def _data_error(_request: Request, error: Exception) -> JSONResponse:
    logger.info("data error reached the handler: %s", error)
    return JSONResponse(
        {"detail": "a value is out of range for the database"},
        status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
    )


def _short_echo(item: dict[str, Any]) -> dict[str, Any]:
    """A validation error whose echoed ``input`` is a short prefix at most.

    Echoing a refused 5 MB field back whole costs the server as much again and helps nobody:
    strings keep their first ECHO_MAX characters, and larger values are left out.
    """
    if "input" not in item:
        return item
    value = item["input"]
    if isinstance(value, str):
        if len(value) > ECHO_MAX:
            return item | {"input": value[:ECHO_MAX] + "…"}
        return item
    if isinstance(value, (dict, list, tuple)) and _too_long(value):
        return {key: kept for key, kept in item.items() if key != "input"}
    return item


def _too_long(value: object) -> bool:
    try:
        return len(json.dumps(value, default=str)) > ECHO_MAX
    except (TypeError, ValueError):
        return True


async def _validation_error(_request: Request, error: Exception) -> Response:
    """FastAPI's own 422, except when the input it echoes cannot be written as JSON.

    Python's json module accepts what a response cannot carry: lone surrogates ("\\ud800", not
    UTF-8) and NaN or Infinity (not JSON). Echoed back, they made the 422 itself fail with a 500;
    the errors are then sent without the echoed values, which the client has anyway.
    """
    assert isinstance(error, RequestValidationError)
    errors = jsonable_encoder([_short_echo(item) for item in error.errors()])
    try:
        return JSONResponse({"detail": errors}, status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)
    except (UnicodeEncodeError, ValueError):
        without_input = [
            {key: value for key, value in item.items() if key not in ("input", "ctx")}
            for item in errors
        ]
        return Response(
            json.dumps({"detail": without_input}, ensure_ascii=True),
            status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
            media_type="application/json",
        )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(IntegrityError, _integrity_error)
    app.add_exception_handler(DataError, _data_error)
