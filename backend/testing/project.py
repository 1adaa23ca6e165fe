"""What the harness is told about the project it tests: one object, named by pytest's ini.

The harness knows engines, Alembic and pytest; everything it needs of the application comes from
here, so the harness folder can be copied into another FastAPI + SQLAlchemy project that declares
its own ``Project``. ``pyproject.toml`` names it::

    [tool.pytest.ini_options]
    harness_project = "backend.tests.project:PROJECT"
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory
from fastapi import FastAPI
from sqlalchemy import MetaData
from sqlalchemy.ext.asyncio import AsyncEngine

INI_NAME = "harness_project"


@dataclass(frozen=True)
class Project:
    """The application under test, as the harness sees it."""

    metadata: MetaData
    """Every table; the migration checks compare them with the migrated schema."""
    alembic_config: Callable[..., Config]
    """``alembic_config(url=None, connection=None)``: the migrations that build the test schema."""
    create_engine: Callable[..., AsyncEngine]
    """``create_engine(url, **engine_options)``: the application's own engine factory, so tests
    connect as production does (the harness passes options only to swap SQLite's transport)."""
    create_app: Callable[[str, Path], FastAPI]
    """An app on a database URL, keeping its files (keys, uploads) in a directory."""
    sessionmaker_dependency: Callable[..., Any]
    """The dependency the harness overrides so that requests use the test's sessions."""
    reset_app_state: Callable[[FastAPI], None] = lambda _app: None
    """Forget what the app keeps in memory between requests (caches, throttles), per test."""
    configured_database_url: Callable[[], str | None] = lambda: None
    """The database the app opens when nothing points it elsewhere (the developer's own): read
    once per run, and any connection to it from a test is refused (``blocker.py``)."""

    def migration_files(self) -> list[Path]:
        """Every file the migrated schema is built from: the ini file and the migration scripts."""
        config = self.alembic_config()
        folder = Path(ScriptDirectory.from_config(config).dir)
        files = [*folder.glob("*.py"), *folder.glob("versions/*.py")]
        if config.config_file_name:
            files.append(Path(config.config_file_name))
        return sorted(files)


def add_ini(parser: pytest.Parser) -> None:
    parser.addini(
        INI_NAME, "module:attribute of the harness's Project (backend.testing.project)", default=""
    )


_current: Project | None = None


def load_project(config: pytest.Config) -> Project:
    """Import the ``Project`` the ini names, once per process; a missing one stops the run."""
    global _current  # one per process, like pytest's own config: the engines' functions need it
    spec = str(config.getini(INI_NAME) or "")
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise pytest.UsageError(
            f"the test harness needs to know the project it tests: set {INI_NAME} = "
            '"package.module:ATTRIBUTE" in [tool.pytest.ini_options] (or pass -o '
            f"{INI_NAME}=...), naming a backend.testing.project.Project"
        )
    project = getattr(importlib.import_module(module_name), attribute)
    if not isinstance(project, Project):
        raise pytest.UsageError(f"{INI_NAME} = {spec!r} is not a backend.testing.project.Project")
    _current = project
    return project


def current_project() -> Project:
    """The project this process tests (loaded when the plugin configured pytest)."""
    if _current is None:
        raise RuntimeError("the harness plugin has not loaded its project yet")
    return _current
