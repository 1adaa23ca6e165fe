"""``POST /auth/token``, ``POST /auth/password`` and ``GET /auth/me``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.security import OAuth2PasswordRequestForm
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.auth import service
from backend.auth.dependencies import CurrentUser, SettingsDep
from backend.auth.schemas import PasswordChange, Token, UserRead
from backend.auth.throttle import MAX_TYPED_USERNAME_LENGTH, MAX_USERNAME_LENGTH, LoginThrottle
from backend.config import Settings
from backend.core.identities import normalize_username
from backend.db import SessionDep, get_sessionmaker
from backend.models import User

router = APIRouter(prefix="/auth", tags=["auth"])

SessionmakerDep = Annotated[async_sessionmaker[AsyncSession], Depends(get_sessionmaker)]


def _wrong_credentials() -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED,
        detail="wrong username or password, or the account is inactive",
        headers={"WWW-Authenticate": "Bearer"},
    )


def _client_address(request: Request) -> str:
    # The peer address; behind a proxy every client shares the proxy's (see docs/running.md).
    return request.client.host if request.client else "unknown"


async def _reserve_attempt(
    request: Request, sessionmaker: async_sessionmaker[AsyncSession], username: str
) -> None:
    throttle: LoginThrottle = request.app.state.login_throttle
    wait = await throttle.reserve(sessionmaker, username=username, client=_client_address(request))
    if wait > 0:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            detail="too many failed logins for this username; try again later",
            headers={"Retry-After": str(int(wait) + 1)},
        )


async def _clear_attempts(request: Request, session: AsyncSession, username: str) -> None:
    throttle: LoginThrottle = request.app.state.login_throttle
    await throttle.clear(session, username=username, client=_client_address(request))


def _token(user: User, settings: Settings) -> Token:
    token = service.issue_token(
        user=user, key=settings.signing_key, minutes=settings.access_token_minutes
    )
    return Token(access_token=token, expires_in=settings.access_token_minutes * 60)


@router.post("/token", responses={401: {"description": "Wrong credentials"}, 429: {}})
async def login(
    request: Request,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    session: SessionDep,
    sessionmaker: SessionmakerDep,
    settings: SettingsDep,
) -> Token:
    """Exchange a username and password for a bearer token.

    The username is looked up as Django's login form does: NFKC-normalised, then exactly.
    """
    if len(form.username) > MAX_TYPED_USERNAME_LENGTH:
        # No account has such a name: refused before any database or hashing work.
        raise _wrong_credentials()
    username = normalize_username(form.username)
    if len(username) > MAX_USERNAME_LENGTH:
        raise _wrong_credentials()
    await _reserve_attempt(request, sessionmaker, username)
    user = await service.authenticate(session=session, username=username, password=form.password)
    if user is None:
        raise _wrong_credentials()
    # The account's own failures only: never those of a name that merely looks or reads alike.
    await _clear_attempts(request, session, user.username)
    return _token(user, settings)


@router.post(
    "/password",
    responses={
        400: {"description": "The body could not be decoded (not UTF-8)"},
        401: {"description": "Not logged in, or the token is invalid"},
        403: {"description": "The current password is wrong"},
        429: {},
    },
)
async def change_password(
    request: Request,
    body: PasswordChange,
    user: CurrentUser,
    session: SessionDep,
    sessionmaker: SessionmakerDep,
    settings: SettingsDep,
) -> Token:
    """Change your password; every other token of yours stops working, and a new one is returned."""
    # The token's user was loaded in this request's unit of work: end it first, or on SQLite the
    # throttle's own session could wait for a write lock this request holds.
    await service.end_transaction_before_hashing(session)
    await _reserve_attempt(request, sessionmaker, user.username)
    if not await service.password_is_right(user, body.current_password):
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="the current password is wrong")
    await service.set_password(session=session, user=user, password=body.new_password)
    await _clear_attempts(request, session, user.username)
    return _token(user, settings)


@router.get("/me", responses={401: {"description": "Not logged in, or the token is invalid"}})
async def me(user: CurrentUser) -> UserRead:
    """The user the token belongs to."""
    return UserRead.model_validate(user)
