"""Running a small inner pytest session in a subprocess, to test what the harness does to a run."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from backend.config import PROJECT_ROOT

INNER_OPTIONS = [
    "-p",
    "backend.testing.plugin",
    "-p",
    "no:randomly",
    "-p",
    "no:postgresql",
    "-o",
    "harness_project=backend.tests.project:PROJECT",
    "-o",
    "asyncio_mode=auto",
    "-o",
    "asyncio_default_fixture_loop_scope=session",
    "-o",
    "asyncio_default_test_loop_scope=session",
    # Share the project's schema cache, so inner runs do not rebuild it.
    "-o",
    f"cache_dir={PROJECT_ROOT / '.pytest_cache'}",
]


def write_tests(directory: Path, source: str, name: str = "test_inner.py") -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(source))
    (directory / "pytest.ini").write_text("[pytest]\n")
    return path


def inner_command(directory: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "pytest", str(directory), "-q", "-rs", *INNER_OPTIONS, *args]


def inner_env(**overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BACKEND_TEST_", "PYTEST_"))}
    env.update(overrides)
    return env


def run_inner(
    directory: Path, *args: str, timeout: float = 120, **env: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        inner_command(directory, *args),
        cwd=directory,
        env=inner_env(**env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def start_inner(directory: Path, *args: str, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        inner_command(directory, *args),
        cwd=directory,
        env=inner_env(**env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
