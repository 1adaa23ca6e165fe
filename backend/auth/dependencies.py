"""``CurrentUser``, ``StaffUser`` and ``Superuser``: who is calling, checked on every request."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import OAuth2PasswordBearer

from backend.auth import queries
from backend.auth.tokens import InvalidToken, read_access_token
from backend.config import Settings
from backend.db import SessionDep
from backend.models import User

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/auth/token", auto_error=False)

_UNAUTHENTICATED = HTTPException(
    status_code=status.HTTP_401_UNAUTHORIZED,
    detail="not authenticated: log in at /auth/token and send the token as 'Authorization: Bearer …'",
    headers={"WWW-Authenticate": "Bearer"},
)


async def get_settings(request: Request) -> Settings:
    # A coroutine function: FastAPI would run a plain one on a worker thread for every request.
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


async def get_current_user(
    session: SessionDep,
    settings: SettingsDep,
    token: Annotated[str | None, Depends(oauth2_scheme)],
) -> User:
    if not token:
        raise _UNAUTHENTICATED
    try:
        claims = read_access_token(token, key=settings.signing_key)
    except InvalidToken:
        raise _UNAUTHENTICATED from None
    user = await queries.user_by_id(session, claims.user_id)
    # A deleted or deactivated user's tokens stop working at once, not when they expire; so do
    # tokens issued before a password, activity or privilege change (a new generation).
    if (
        user is None
        or not user.is_active
        or not hmac.compare_digest(user.token_generation, claims.generation)
    ):
        raise _UNAUTHENTICATED
    return user


CurrentUser = Annotated[User, Depends(get_current_user)]


# Coroutine functions, as get_settings: FastAPI runs a plain function dependency on a worker thread.
async def require_staff(user: CurrentUser) -> User:
    if not user.is_staff and not user.is_superuser:
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="staff only")
    return user


async def require_superuser(user: CurrentUser) -> User:
    if not user.is_superuser:
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="superusers only")
    return user


StaffUser = Annotated[User, Depends(require_staff)]
Superuser = Annotated[User, Depends(require_superuser)]
