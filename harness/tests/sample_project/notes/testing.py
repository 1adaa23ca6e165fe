"""This project as pytest-dbharness sees it (the pytest ini's harness_project names it)."""

from pathlib import Path

from alembic.config import Config
from pytest_dbharness import Project
from sqlalchemy.engine import Connection

from notes.app import create_app
from notes.db import get_session, make_engine
from notes.models import Base

HERE = Path(__file__).resolve().parent.parent


def alembic_config(url: str | None = None, connection: Connection | None = None) -> Config:
    config = Config(HERE / "alembic.ini")
    if url is not None:
        config.set_main_option("sqlalchemy.url", url)
    if connection is not None:
        config.attributes["connection"] = connection
    return config


PROJECT = Project(
    metadata=Base.metadata,
    alembic_config=alembic_config,
    create_engine=make_engine,
    create_app=lambda database_url, _data_dir: create_app(database_url),
    session_dependency=get_session,
    drivers={"postgresql": "asyncpg"},
)
