"""The engine factory and the session dependency, as most FastAPI apps write them."""

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine


def make_engine(url: str, **options: Any) -> AsyncEngine:
    # No SQLite savepoint workaround here: most apps do not apply it (the harness must).
    return create_async_engine(url, **options)


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.sessionmaker() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]
