"""What the harness is told about the project it tests: one object, named by pytest's ini.

The harness knows engines, Alembic and pytest; everything it needs of the application comes from
one ``Project``, checked when the run starts (each unmet point stops it with one message). The
project's pytest ini names it::

    [tool.pytest.ini_options]
    harness_project = "myapp.testing:PROJECT"
"""

from __future__ import annotations

import importlib
import inspect
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import MetaData
from sqlalchemy.engine import make_url
from sqlalchemy.exc import NoSuchModuleError
from sqlalchemy.ext.asyncio import AsyncEngine

# Alembic is imported when the harness migrates (a cached run never needs it); FastAPI by the
# project's own module and the app fixtures (the plugin of a project that names no harness_project
# never imports it).
if TYPE_CHECKING:
    from alembic.config import Config
    from fastapi import FastAPI

INI_NAME = "harness_project"
# The async driver the harness uses for a dialect when the project names none.
DEFAULT_DRIVERS = {"postgresql": "psycopg", "sqlite": "aiosqlite"}
# SQLAlchemy's own dialect names: what ``drivers=`` is keyed by.
KNOWN_DIALECTS = ("mariadb", "mssql", "mysql", "oracle", "postgresql", "sqlite")


class ProjectError(Exception):
    """The project does not meet the harness's contract; the message says what to change."""


@dataclass(frozen=True)
class Project:
    """The application under test, as the harness sees it (``docs/harness.md``, "The contract")."""

    metadata: MetaData
    """Every table; the migration checks compare them with the migrated schema."""
    alembic_config: Callable[..., Config]
    """``alembic_config(url=None, connection=None)``: the migrations that build the test schema.
    With ``connection``, ``env.py`` must migrate through it (``config.attributes["connection"]``)."""
    create_engine: Callable[..., AsyncEngine]
    """``create_engine(url, **options)``: the application's own engine factory, so tests connect
    as production does; the harness passes options only to swap SQLite's transport."""
    create_app: Callable[[str, Path], FastAPI]
    """``create_app(database_url, data_dir)``: an app on that database, its files in that folder."""
    sessionmaker_dependency: Callable[..., Any] | None = None
    """A dependency returning the app's ``async_sessionmaker``; the harness overrides it..."""
    session_dependency: Callable[..., Any] | None = None
    """...or a dependency yielding an ``AsyncSession`` (the common FastAPI pattern): give one."""
    session_dependency_commits: bool = False
    """Whether ``session_dependency`` commits after the endpoint returns (a unit of work); the
    override then does the same. By default it only closes the session, as
    ``async with sessionmaker() as session: yield session`` does."""
    drivers: Mapping[str, str] = field(default_factory=dict)
    """The async driver the app uses per SQLAlchemy dialect, e.g. ``{"postgresql": "asyncpg"}``;
    unnamed dialects get psycopg (PostgreSQL) and aiosqlite (SQLite)."""
    base_url: str | None = None
    """The test client's base URL; by default ``http://<first host TrustedHostMiddleware
    allows>`` when the app has that middleware, else ``http://testserver``."""
    reset_app_state: Callable[[FastAPI], None] = lambda _app: None
    """Forget what the app keeps in memory between requests (caches, throttles), per test."""
    configured_database_url: Callable[[], str | None] = lambda: None
    """The database the app opens when nothing points it elsewhere (the developer's own): read
    once per run, and any connection to it from a test is refused (``blocker.py``)."""
    run_lifespan: bool = True
    """Whether the harness runs the app's lifespan as a server does: startup before the run's first
    test that uses the app, shutdown at its end, and what it yields (``yield {...}``) in each
    request's ``request.state``. False when it reaches services the tests do not have."""
    migrations_dir: Path | None = None
    """The folder of the migration scripts (Alembic's ``script_location``), if known without
    Alembic. Given, a run whose migrated schema is already cached never imports Alembic (about
    0.1 s of every run's start); the key then covers the folder's scripts and an ``alembic.ini``
    beside it. Each time the harness builds the template it checks the folder is the one
    ``alembic_config()`` names, and stops the run if not."""

    def __post_init__(self) -> None:
        for problem in self.problems():
            raise ProjectError(problem)

    def problems(self) -> list[str]:
        """What this project lacks for the harness, one sentence each."""
        found = []
        if (self.sessionmaker_dependency is None) == (self.session_dependency is None):
            found.append(
                "give exactly one of sessionmaker_dependency= (a dependency returning an "
                "async_sessionmaker) and session_dependency= (a dependency yielding an "
                "AsyncSession): the harness overrides it so that requests use the test's sessions"
            )
        unknown = sorted(set(self.drivers) - set(KNOWN_DIALECTS))
        if unknown:
            found.append(
                f"drivers= names {', '.join(map(repr, unknown))}, which SQLAlchemy does not call "
                f"a dialect: key it by the dialect's name, the part of a URL before '+' "
                f"({', '.join(sorted(DEFAULT_DRIVERS))}), e.g. drivers={{'postgresql': 'asyncpg'}}"
            )
        if not _accepts_keyword_options(self.create_engine):
            found.append(
                f"create_engine={_name(self.create_engine)} must accept keyword options passed to "
                "create_async_engine (def create_engine(url, **options)): the harness passes "
                "module= and poolclass= to run SQLite on its own transport"
            )
        return found

    @property
    def overridden_dependency(self) -> Callable[..., Any]:
        dependency = self.sessionmaker_dependency or self.session_dependency
        assert dependency is not None  # __post_init__ checked
        return dependency

    def driver_for(self, dialect: str) -> str:
        return self.drivers.get(dialect) or DEFAULT_DRIVERS.get(dialect, "")

    def driver_problem(self, dialect: str) -> str | None:
        """Why the app's driver for ``dialect`` cannot be used here (unknown, not installed)."""
        driver = self.driver_for(dialect)
        if not driver:
            return None
        try:
            make_url(f"{dialect}+{driver}://").get_dialect().import_dbapi()
        except NoSuchModuleError:
            return (
                f"the app's driver for {dialect} is {driver!r} (Project drivers=), which "
                f"SQLAlchemy does not know: name an async driver it has, such as "
                f"{DEFAULT_DRIVERS.get(dialect, 'psycopg')!r}"
            )
        except ImportError as error:
            return (
                f"the app's driver for {dialect} is {driver!r} (Project drivers=), and it is not "
                f"installed ({error}): add it to the project's dependencies (uv add {driver})"
            )
        return None

    def url_for(self, url: str) -> str:
        """``url`` with the driver the app uses for its dialect (the harness's URLs name none)."""
        parsed = make_url(url)
        driver = self.driver_for(parsed.get_backend_name())
        if not driver:
            return url
        rendered: str = parsed.set(
            drivername=f"{parsed.get_backend_name()}+{driver}"
        ).render_as_string(hide_password=False)
        return rendered

    def migration_files(self) -> list[Path]:
        """Every file the migrated schema is built from: the ini file and the migration scripts."""
        if self.migrations_dir is not None:
            folder = Path(self.migrations_dir)
            ini: Path | None = folder.parent / "alembic.ini"
        else:
            config = self.alembic_config()
            folder = self.alembic_folder(config)
            ini = Path(config.config_file_name) if config.config_file_name else None
        files = [*folder.glob("*.py"), *folder.glob("versions/*.py")]
        if ini is not None and ini.is_file():
            files.append(ini)
        return sorted(files)

    @staticmethod
    def alembic_folder(config: Config) -> Path:
        from alembic.script import ScriptDirectory

        return Path(ScriptDirectory.from_config(config).dir)

    def check_migrations_dir(self, config: Config) -> None:
        """Stop when ``migrations_dir`` is not the folder ``alembic_config()`` migrates from."""
        if self.migrations_dir is None:
            return
        named = self.alembic_folder(config).resolve()
        if named != Path(self.migrations_dir).resolve():
            raise ProjectError(
                f"Project(migrations_dir={str(self.migrations_dir)!r}) is not the folder "
                f"alembic_config() migrates from ({named}): set migrations_dir to that folder, or "
                "leave it out (the schema key then asks Alembic)"
            )


def _accepts_keyword_options(factory: Callable[..., Any]) -> bool:
    try:
        parameters = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):  # a builtin or C callable: nothing to check
        return True
    return any(parameter.kind is inspect.Parameter.VAR_KEYWORD for parameter in parameters)


def _name(thing: Any) -> str:
    return f"{getattr(thing, '__module__', '?')}.{getattr(thing, '__qualname__', thing)!s}"


def add_ini(parser: pytest.Parser) -> None:
    parser.addini(
        INI_NAME, "module:attribute of the harness's Project (pytest_dbharness.project)", default=""
    )


_current: Project | None = None


def refuse_misspelt_ini_keys(config: pytest.Config, harness_keys: list[str]) -> None:
    """Stop the run at an unknown ini key that is close to one of the harness's: a misspelt
    ``harness_project`` would leave the plugin inactive, and every test would fail on its own."""
    unknown = getattr(config, "_get_unknown_ini_keys", None)  # pytest's own check uses it
    if unknown is None:
        return
    import difflib

    for key in sorted(unknown()):
        close = difflib.get_close_matches(key, harness_keys, n=1, cutoff=0.75)
        if close:
            raise pytest.UsageError(
                f"the pytest ini sets {key!r}, which no plugin knows: did you mean {close[0]!r} "
                "(pytest-dbharness)? Rename it in the ini file"
                f"{f' ({config.inipath})' if config.inipath else ''}."
            )


def configured_project(config: pytest.Config) -> str:
    """The ini's ``module:ATTRIBUTE`` naming the project, or "" when the plugin is not in use."""
    return str(config.getini(INI_NAME) or "").strip()


def load_project(config: pytest.Config) -> Project:
    """Import the ``Project`` the ini names, once per process; a missing one stops the run."""
    global _current  # one per process, like pytest's own config: the engines' functions need it
    spec = configured_project(config)
    module_name, colon, attribute = spec.partition(":")
    if module_name and not attribute:
        raise pytest.UsageError(
            f"{INI_NAME} = {spec!r} names a module but not the Project in it: write it as "
            f'"{module_name}:PROJECT" (the module, a colon, the name of the '
            "pytest_dbharness.Project it defines)"
            if not colon
            else f"{INI_NAME} = {spec!r} ends at the colon: name the Project after it, as in "
            f'"{module_name}:PROJECT"'
        )
    if not module_name or not attribute:
        raise pytest.UsageError(
            f"the test harness needs to know the project it tests: set {INI_NAME} = "
            '"package.module:ATTRIBUTE" in [tool.pytest.ini_options] (or pass -o '
            f"{INI_NAME}=...), naming a pytest_dbharness.project.Project"
        )
    try:
        module = importlib.import_module(module_name)
    except ProjectError as error:
        raise pytest.UsageError(f"{INI_NAME} = {spec!r}: {error}") from None
    except ImportError as error:
        missing = getattr(error, "name", None)
        if (
            missing
            and module_name.startswith(missing)
            and module_name[len(missing) :][:1] in ("", ".")
        ):
            hint = (
                'is the package importable from the rootdir? (pytest\'s ini option pythonpath = ["."] '
                "adds it)"
            )
        else:  # the module was found, and importing it failed
            hint = f"importing {module_name} failed: fix that import first"
        raise pytest.UsageError(
            f"{INI_NAME} = {spec!r} cannot be loaded ({error}); {hint}"
        ) from None
    except Exception as error:  # the module's own code failed: a syntax error, a bad setting
        where = _where_it_failed(error)
        raise pytest.UsageError(
            f"{INI_NAME} = {spec!r} cannot be loaded: importing {module_name} raised "
            f"{type(error).__name__}: {error}{where}; fix that first"
        ) from None
    project = getattr(module, attribute, None)
    if project is None:
        defined = sorted(name for name, value in vars(module).items() if isinstance(value, Project))
        raise pytest.UsageError(
            f"{INI_NAME} = {spec!r}: the module {module_name} has no {attribute!r}"
            + (f"; it defines {', '.join(defined)}" if defined else "; it defines no Project")
        )
    if not isinstance(project, Project):
        raise pytest.UsageError(f"{INI_NAME} = {spec!r} is not a pytest_dbharness.Project")
    _current = project
    return project


def _where_it_failed(error: BaseException) -> str:
    """`` (at file:line)`` of the innermost frame of the project's own code that raised."""
    if isinstance(error, SyntaxError) and error.filename:
        return f" (at {error.filename}:{error.lineno})"
    frames = traceback.extract_tb(error.__traceback__)
    own = [f for f in frames if "importlib" not in f.filename and "site-packages" not in f.filename]
    return f" (at {own[-1].filename}:{own[-1].lineno})" if own else ""


def current_project() -> Project:
    """The project this process tests (loaded when the plugin configured pytest)."""
    if _current is None:
        raise RuntimeError("the harness plugin has not loaded its project yet")
    return _current
