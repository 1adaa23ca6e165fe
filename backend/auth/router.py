"""``POST /auth/token`` and ``GET /auth/me``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.security import OAuth2PasswordRequestForm

from backend.auth import service
from backend.auth.dependencies import CurrentUser, SettingsDep
from backend.auth.schemas import Token, UserRead
from backend.auth.throttle import LoginThrottle
from backend.db import SessionDep

router = APIRouter(prefix="/auth", tags=["auth"])


@router.post("/token", responses={401: {"description": "Wrong credentials"}, 429: {}})
async def login(
    request: Request,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    session: SessionDep,
    settings: SettingsDep,
) -> Token:
    """Exchange a username and password for a bearer token."""
    throttle: LoginThrottle = request.app.state.login_throttle
    wait = throttle.retry_after(form.username)
    if wait > 0:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            detail="too many failed logins for this username; try again later",
            headers={"Retry-After": str(int(wait) + 1)},
        )
    user = await service.authenticate(
        session=session, username=form.username, password=form.password
    )
    if user is None:
        throttle.record_failure(form.username)
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="wrong username or password, or the account is inactive",
            headers={"WWW-Authenticate": "Bearer"},
        )
    throttle.reset(form.username)
    token = service.issue_token(
        user=user, key=settings.signing_key, minutes=settings.access_token_minutes
    )
    return Token(access_token=token, expires_in=settings.access_token_minutes * 60)


@router.get("/me", responses={401: {"description": "Not logged in, or the token is invalid"}})
async def me(user: CurrentUser) -> UserRead:
    """The user the token belongs to."""
    return UserRead.model_validate(user)
