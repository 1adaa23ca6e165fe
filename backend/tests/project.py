"""This application as the test harness sees it; ``pyproject.toml``'s ``harness_project`` names it."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from pytest_dbharness.project import Project

from backend.app import create_app, reset_process_state
from backend.config import Environment, Settings
from backend.db import create_engine, get_sessionmaker
from backend.migrations import MIGRATIONS_DIR, alembic_config
from backend.models import Base

TEST_SIGNING_KEY = "test-signing-key-not-for-production-0123456789abcdef"


def test_settings(database_url: str, data_dir: Path) -> Settings:
    """The settings the app under test runs with: its database is the worker's own."""
    return Settings(
        environment=Environment.TEST,
        database_url=database_url,
        secret_key=TEST_SIGNING_KEY,
        data_dir=data_dir,
        _env_file=None,
    )


def _create_app(database_url: str, data_dir: Path) -> FastAPI:
    return create_app(test_settings(database_url, data_dir))


def _configured_database_url() -> str | None:
    """What ``backend serve`` would open here: the environment's or ``.env``'s URL, or data/'s file."""
    try:
        return Settings().resolved_database_url
    except ValueError:  # settings unfit to start the app (a production key check): it opens nothing
        return None


PROJECT = Project(
    metadata=Base.metadata,
    alembic_config=alembic_config,
    create_engine=create_engine,
    create_app=_create_app,
    sessionmaker_dependency=get_sessionmaker,
    reset_app_state=reset_process_state,
    configured_database_url=_configured_database_url,
    migrations_dir=MIGRATIONS_DIR,
)
