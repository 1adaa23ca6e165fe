"""The application factory: ``create_app(settings)``; engines are made at start-up, not at import."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from backend.admin.router import router as admin_router
from backend.auth.router import router as auth_router
from backend.auth.throttle import Limits, LoginThrottle
from backend.config import Settings
from backend.contexts.router import router as contexts_router
from backend.core.allow import AllowMiddleware
from backend.core.body_limit import BodyLimitMiddleware
from backend.core.errors import install_error_handlers
from backend.db import create_engine, create_sessionmaker
from backend.health import router as health_router


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    engine = create_engine(settings.resolved_database_url)
    app.state.engine = engine
    app.state.sessionmaker = create_sessionmaker(engine)
    try:
        yield
    finally:
        await engine.dispose()


def reset_process_state(app: FastAPI) -> None:
    """(Re)create the state the app keeps in memory between requests; tests call it per test."""
    settings: Settings = app.state.settings
    app.state.login_throttle = LoginThrottle(
        Limits(
            per_client=settings.login_attempts_per_minute,
            per_username=settings.login_attempts_per_hour_per_username,
        )
    )


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    app = FastAPI(title="backend", version="0.1.0", lifespan=lifespan)
    app.state.settings = settings
    reset_process_state(app)
    # Middleware added later runs earlier: CORS answers preflights before this answers OPTIONS.
    app.add_middleware(AllowMiddleware, routes_of=app)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["*"],
            allow_headers=["*"],
        )
    install_error_handlers(app)
    # Added last, so it runs first: no body over the limit reaches CORS, routing or parsing.
    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=settings.max_body_bytes,
        max_discard_bytes=settings.max_discarded_body_bytes,
        discard_seconds=settings.body_timeout_seconds,
    )
    for router in (health_router, auth_router, contexts_router, admin_router):
        app.include_router(router)
    return app
