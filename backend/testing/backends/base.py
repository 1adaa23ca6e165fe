"""What every engine's backend provides: a server, a migrated template, clones of it, a report.

The controller process provisions once (server, template) and hands the result, a plain
``Provisioned`` record, to each xdist worker, which clones its own database from the template.
Adding an engine is adding one subclass and registering it in ``backends/__init__.py``.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

from backend.testing.options import HarnessOptions
from backend.testing.rundir import RunDirectory


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


class DatabaseBackend(ABC):
    """One engine. ``provision``/``teardown`` run in the controller, ``clone``/``drop`` in workers."""

    name: str

    def __init__(self, options: HarnessOptions, run_dir: RunDirectory, cache_dir: Any) -> None:
        self.options = options
        self.run_dir = run_dir
        self.cache_dir = cache_dir

    @abstractmethod
    def provision(self) -> Provisioned:
        """Start or reach the server and make the migrated template."""

    @abstractmethod
    def teardown(self) -> None:
        """Stop what provision started and remove what it created; safe to call twice."""

    @staticmethod
    @abstractmethod
    def clone(provisioned: Provisioned, worker: str) -> str:
        """Create this worker's database from the template; return its URL."""

    @staticmethod
    @abstractmethod
    def create_empty(provisioned: Provisioned, name: str) -> str:
        """Create an empty database (no schema) called ``name``; return its URL."""

    @staticmethod
    @abstractmethod
    def drop(provisioned: Provisioned, url: str) -> None:
        """Remove a database that ``clone`` or ``create_empty`` created."""
