"""The HTTP API: authors and notes; endpoints commit their own work."""

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime

from fastapi import BackgroundTasks, FastAPI, HTTPException, Request
from pydantic import BaseModel, ConfigDict
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import async_sessionmaker
from starlette.middleware.trustedhost import TrustedHostMiddleware

from notes.db import SessionDep, make_engine
from notes.models import Author, Note


class AuthorIn(BaseModel):
    name: str


class AuthorOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    name: str


class NoteIn(BaseModel):
    author_id: int
    title: str
    body: str = ""


class NoteChange(BaseModel):
    title: str


class NoteOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: uuid.UUID
    author_id: int
    title: str
    body: str
    created_at: datetime
    updated_at: datetime


async def write_copy(app: FastAPI, author_id: int, title: str, body: str) -> None:
    """A background job: its own session on the app's own engine, not the request's dependency
    (as a job queue's worker would write)."""
    async with app.state.sessionmaker() as session:
        session.add(Note(author_id=author_id, title=title, body=body))
        await session.commit()


def create_app(database_url: str) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, str]]:
        # Each request of a server gets a copy of what this yields, in request.state.
        yield {"served_by": "notes"}
        await app.state.engine.dispose()

    app = FastAPI(lifespan=lifespan)
    app.state.engine = make_engine(database_url)
    app.state.sessionmaker = async_sessionmaker(app.state.engine, expire_on_commit=False)
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=["notes.example.com", "localhost"])

    @app.post("/authors", status_code=201, response_model=AuthorOut)
    async def create_author(data: AuthorIn, session: SessionDep) -> Author:
        author = Author(name=data.name)
        session.add(author)
        try:
            await session.commit()
        except IntegrityError:
            raise HTTPException(409, "an author has that name") from None
        return author

    @app.get("/served-by")
    async def served_by(request: Request) -> dict[str, str]:
        return {"served_by": request.state.served_by}

    @app.get("/authors/{author_id}", response_model=AuthorOut)
    async def read_author(author_id: int, session: SessionDep) -> Author:
        author = await session.get(Author, author_id)
        if author is None:
            raise HTTPException(404, "no such author")
        return author

    @app.post("/notes", status_code=201, response_model=NoteOut)
    async def create_note(data: NoteIn, session: SessionDep) -> Note:
        note = Note(author_id=data.author_id, title=data.title, body=data.body)
        session.add(note)
        await session.commit()
        await session.refresh(note)
        return note

    @app.get("/notes", response_model=list[NoteOut])
    async def list_notes(session: SessionDep) -> list[Note]:
        return list(await session.scalars(select(Note).order_by(Note.title)))

    @app.get("/notes/count")
    async def count_notes(session: SessionDep) -> dict[str, int]:
        return {"count": await session.scalar(select(func.count()).select_from(Note)) or 0}

    @app.post("/notes/{note_id}/copies", status_code=202)
    async def copy_note(note_id: uuid.UUID, jobs: BackgroundTasks, session: SessionDep) -> None:
        note = await session.get(Note, note_id)
        if note is None:
            raise HTTPException(404, "no such note")
        jobs.add_task(write_copy, app, note.author_id, f"copy of {note.title}", note.body)

    @app.patch("/notes/{note_id}", response_model=NoteOut)
    async def rename_note(note_id: uuid.UUID, data: NoteChange, session: SessionDep) -> Note:
        note = await session.get(Note, note_id)
        if note is None:
            raise HTTPException(404, "no such note")
        note.title = data.title
        await session.commit()
        await session.refresh(note)
        return note

    @app.delete("/notes/{note_id}", status_code=204)
    async def delete_note(note_id: uuid.UUID, session: SessionDep) -> None:
        note = await session.get(Note, note_id)
        if note is None:
            raise HTTPException(404, "no such note")
        await session.delete(note)
        await session.commit()

    return app
