"""What every engine provides: a controller that provisions once, and small functions any process calls.

The controller process provisions once (server, template) and hands the result, a plain
``Provisioned`` record, to each xdist worker, which clones its own database from the template by
calling its engine's functions with that record alone (SQLAlchemy's ``testing/provision.py`` works
the same way). Adding an engine is one module with a ``CONTROLLER`` and three functions, and one
entry in the registry (``backends/__init__.py``).
"""

from __future__ import annotations

import importlib
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from pytest_dbharness.project import current_project

if TYPE_CHECKING:  # the options name the engines, which are defined here
    from pytest_dbharness.options import HarnessOptions
    from pytest_dbharness.rundir import RunDirectory


@dataclass
class Report:
    """What the pytest header shows about the database side of the run."""

    engine: str
    server: str = ""
    location: str = ""
    revision: str = ""
    cache: str = ""
    phases: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.phases[name] = time.perf_counter() - started


@dataclass
class Provisioned:
    """Everything a worker needs to clone its database; crosses process boundaries as a dict."""

    engine: str
    run_id: str
    run_dir: str
    template: str
    admin_url: str = ""
    report: Report = field(default_factory=lambda: Report(engine=""))
    # Set when the migrations failed: tests that need the schema fail with it, the others
    # (the migration checks above all) still run.
    template_error: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Provisioned:
        return cls(**{**data, "report": Report(**data["report"])})


class Controller(ABC):
    """What only the controller process does for one engine: start, build the template, stop."""

    def __init__(
        self, engine: str, options: HarnessOptions, run_dir: RunDirectory, cache_dir: Any
    ) -> None:
        self.engine = engine  # the registry key, for the records this controller makes
        self.options = options
        self.run_dir = run_dir
        self.cache_dir = cache_dir

    @abstractmethod
    def provision(self) -> Provisioned:
        """Start or reach the server and make the migrated template."""

    @abstractmethod
    def teardown(self) -> None:
        """Stop what provision started and remove what it created; safe to call twice."""


@dataclass(frozen=True)
class Engine:
    """One engine's entry in the registry: its controller and the functions any process may call.

    They live in ``module`` (``CONTROLLER``, ``clone``, ``create_empty``, ``drop``), imported on
    first use, so that a run on one engine never loads another's drivers and server machinery.
    """

    label: str  # for people: "PostgreSQL"
    dialect: str  # SQLAlchemy's dialect name for it: "postgresql"
    module: str
    aliases: tuple[str, ...] = ()  # other spellings --db accepts

    def _functions(self) -> Any:
        return importlib.import_module(self.module)

    @property
    def controller(self) -> type[Controller]:
        controller: type[Controller] = self._functions().CONTROLLER
        return controller

    def clone(self, provisioned: Provisioned, worker: str) -> str:
        """Create this worker's database from the template; return its URL, on the app's driver."""
        url: str = self._functions().clone(provisioned, worker)
        return current_project().url_for(url)

    def create_empty(self, provisioned: Provisioned, name: str) -> str:
        """Create an empty database (no schema) called ``name``; return its URL, on the app's driver."""
        url: str = self._functions().create_empty(provisioned, name)
        return current_project().url_for(url)

    def hook(self, name: str) -> Any:
        """The engine module's optional hook ``name``, or None when the engine has no such rule."""
        return getattr(self._functions(), name, None)

    def drop(self, provisioned: Provisioned, url: str) -> None:
        """Remove a database that ``clone`` or ``create_empty`` created."""
        self._functions().drop(provisioned, url)
