"""The run's database state: which backend, what it provisioned, and this process's role in it."""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from pytest_dbharness.backends import ENGINES, Controller, Provisioned
from pytest_dbharness.options import HarnessOptions
from pytest_dbharness.rundir import RunDirectory, scratch_base, stop_processes_naming

WORKERINPUT_KEY = "dbharness_db_provisioned"
harness_key = pytest.StashKey["Harness"]()


@dataclass
class Harness:
    """Owned by the controller (the only process when xdist is off); workers get a copy."""

    options: HarnessOptions
    config: pytest.Config
    controller: Controller | None = None
    provisioned: Provisioned | None = None
    run_dir: RunDirectory | None = None
    schema_cache: Path | None = None

    @property
    def is_worker(self) -> bool:
        return hasattr(self.config, "workerinput")

    @property
    def worker_id(self) -> str:
        return str(getattr(self.config, "workerinput", {}).get("workerid", "main"))

    def provision(self) -> Provisioned:
        """Start the server and build the template, once per run, in the controller."""
        if self.provisioned is not None:
            return self.provisioned
        if self.is_worker:
            self.provisioned = Provisioned.from_dict(
                json.loads(self.config.workerinput[WORKERINPUT_KEY])  # type: ignore[attr-defined]
            )
            return self.provisioned
        # Known to abandon() before it exists: an interrupt while it is made removes it too.
        self.run_dir = RunDirectory.planned()
        self.run_dir.make()
        controller_class = ENGINES[self.options.engine].controller
        self.schema_cache = schema_cache_dir(self.config)
        self.controller = controller_class(
            self.options.engine, self.options, self.run_dir, self.schema_cache
        )
        run_dir = self.run_dir
        try:
            self.provisioned = self.controller.provision()
        except BaseException as error:
            self.teardown()
            # A full or read-only scratch place is the user's to fix: say so, not a traceback.
            explained = run_dir.explain(error) if isinstance(error, OSError) else None
            if explained is not None:
                raise explained from None
            raise
        return self.provisioned

    def to_workerinput(self) -> str:
        return json.dumps(self.provision().to_dict())

    def abandon(self) -> None:
        """After an interrupt, however far provisioning got: stop the server, remove the files."""
        run_dir = self.run_dir
        with contextlib.suppress(Exception):
            self.teardown()
        if run_dir is not None:
            stop_processes_naming(run_dir.path)
            run_dir.remove()

    def teardown(self) -> None:
        if self.controller is not None:
            self.controller.teardown()
            self.controller = None
        if self.run_dir is not None:
            self.run_dir.remove()
            self.run_dir = None


def schema_cache_dir(config: pytest.Config) -> Path:
    """pytest's cache directory when it is enabled and writable, else one in the scratch place.

    ``-p no:cacheprovider`` removes ``config.cache``, and a read-only checkout cannot hold
    ``.pytest_cache``; the scratch place outlives runs (only ``run-*`` directories are swept).
    """
    cache = getattr(config, "cache", None)
    if cache is not None:
        try:
            chosen = Path(cache.mkdir("dbharness-schema"))
        except OSError:
            pass
        else:
            if os.access(chosen, os.W_OK):
                return chosen
    fallback = scratch_base() / "schema-cache"
    fallback.mkdir(mode=0o755, parents=True, exist_ok=True)
    return fallback


def harness_of(config: pytest.Config) -> Harness:
    """The run's harness; a test asking for a database in a project that named none fails."""
    harness = config.stash.get(harness_key, None)
    if harness is None:
        pytest.fail(
            "this test uses pytest-dbharness's database fixtures, but the ini file names no "
            'project: add harness_project = "package.module:PROJECT" to [tool.pytest.ini_options] '
            "(a pytest_dbharness.Project; see docs/harness.md in pytest-dbharness's repository)",
            pytrace=False,
        )
    return harness
