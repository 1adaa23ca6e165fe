"""Running a project's suite under the plugin in a process of its own, as its developers would."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

SAMPLE_PROJECT = Path(__file__).resolve().parent / "sample_project"
# How many tests the second project has (sample_project/tests): what a run of all of them passes.
SAMPLE_TESTS = 16


def clean_env(**overrides: str) -> dict[str, str]:
    """The environment without this run's harness and pytest settings (the scratch place kept)."""
    keep = {"DBHARNESS_SCRATCH_DIR"}
    env = {
        name: value
        for name, value in os.environ.items()
        if name in keep or not name.startswith(("BACKEND_TEST_", "DBHARNESS_", "PYTEST_"))
    }
    env.update(overrides)
    return env


# The start of the harness's refusal of a write around a rolled-back test's isolation.
WROTE_AROUND = "a rolled-back test wrote to the worker's database through an engine the harness"


def run_pytest(
    project: Path, *args: str, timeout: float = 300, **env: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:randomly", *args],
        cwd=project,
        env=clean_env(**env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def run_added(
    project: Path, module: tuple[str, str], engine: str, *args: str
) -> subprocess.CompletedProcess[str]:
    """Add the test module ``(file name, source)`` to the copied project and run it on ``engine``."""
    name, source = module
    (project / "tests" / name).write_text(source)
    return run_pytest(project, "--db", engine, f"tests/{name}", *args)


def copy_of_sample(tmp_path: Path) -> Path:
    """A copy of the second project, to change one thing of it."""
    target = tmp_path / "sample_project"
    shutil.copytree(
        SAMPLE_PROJECT, target, ignore=shutil.ignore_patterns(".pytest_cache", "*.sqlite3")
    )
    return target


def outcome(result: subprocess.CompletedProcess[str]) -> str:
    return result.stdout + "\n" + result.stderr


def replace_in(path: Path, old: str, new: str) -> None:
    """Change one thing of a copied project: ``old``, which must be there, becomes ``new``."""
    text = path.read_text()
    assert old in text, f"{path} no longer holds {old!r}"
    path.write_text(text.replace(old, new))


def env_py_ignoring_the_connection(project: Path) -> None:
    """The copy's env.py as Alembic's async template comes: it always connects by itself."""
    replace_in(
        project / "alembic/env.py",
        '    connection = config.attributes.get("connection")\n',
        "    connection = None\n",
    )
