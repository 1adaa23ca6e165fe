"""Launching the measured pytest processes: one per run, timed from outside, probed from inside."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from backend.bench.probe import PROBE_DIR_ENV
from backend.bench.strategies import HARNESS, STRATEGY_ENV
from backend.bench.suite import Suite, pytest_args
from backend.config import PROJECT_ROOT

# pytest's exit codes that still mean the suite ran: all passed, some failed.
RAN = (0, 1)
RUN_TIMEOUT_S = 1800
_HEADER_PREFIX = "database"


class BenchError(Exception):
    """A measured run could not be made; the message says which and why."""


@dataclass(frozen=True)
class RunSpec:
    """One configuration of the suite: engine, xdist workers (0: serial), cache, strategy."""

    engine: str
    workers: int = 0
    cold: bool = False
    strategy: str = HARNESS

    @property
    def mode(self) -> str:
        return f"-n {self.workers}" if self.workers else "serial"

    @property
    def cache(self) -> str:
        return "cold" if self.cold else "warm"

    @property
    def key(self) -> str:
        return f"{self.engine}/{self.mode}/{self.cache}/{self.strategy}"


@dataclass
class RunOutput:
    """What one run left: its wall time from outside, its header, and the probes' records."""

    spec: RunSpec
    repetition: int
    launched: float
    wall: float
    exit_code: int
    header: list[str] = field(default_factory=list)
    probes: list[dict[str, Any]] = field(default_factory=list)
    log: str = ""


def pytest_command(spec: RunSpec, suite: Suite, cache_dir: Path) -> list[str]:
    command = [sys.executable, "-m", "pytest", *pytest_args(suite, cache_dir), "--db", spec.engine]
    command += ["-p", "backend.bench.probe"]
    if spec.strategy != HARNESS:
        command += ["-p", "backend.bench.strategies"]
    if spec.workers:
        command += ["-n", str(spec.workers)]
    if spec.cold:
        command.append("--rebuild-schema")
    return command


def run_environment(spec: RunSpec, probe_dir: Path) -> dict[str, str]:
    # The harness's own variables could point it at an external server or another engine.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BACKEND_TEST_", "PYTEST_"))}
    env[PROBE_DIR_ENV] = str(probe_dir)
    env[STRATEGY_ENV] = spec.strategy
    return env


def run_once(spec: RunSpec, repetition: int, suite: Suite, workdir: Path) -> RunOutput:
    """Run the suite once as configured; the output goes to a log file under ``workdir``."""
    name = f"{spec.key.replace('/', '_').replace(' ', '')}_{repetition}"
    probe_dir = workdir / "probes" / name
    probe_dir.mkdir(parents=True, exist_ok=True)
    for stale in probe_dir.glob("*.json"):
        stale.unlink()
    log = workdir / "logs" / f"{name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    command = pytest_command(spec, suite, workdir / "cache")
    with log.open("w") as output:
        launched = time.time()
        started = time.perf_counter()
        exit_code = _wait(
            subprocess.Popen(
                command,
                cwd=PROJECT_ROOT,
                env=run_environment(spec, probe_dir),
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )
        wall = time.perf_counter() - started
    text = log.read_text(errors="replace")
    if exit_code not in RAN:
        tail = "\n".join(text.splitlines()[-25:])
        raise BenchError(f"{spec.key}: pytest exited with {exit_code}; {log} ends with:\n{tail}")
    return RunOutput(
        spec=spec,
        repetition=repetition,
        launched=launched,
        wall=wall,
        exit_code=exit_code,
        header=header_lines(text),
        probes=[json.loads(path.read_text()) for path in sorted(probe_dir.glob("*.json"))],
        log=str(log),
    )


def _wait(process: subprocess.Popen[bytes]) -> int:
    """Wait for the run; on a timeout or Ctrl-C, stop it the way the harness cleans up after."""
    try:
        return process.wait(timeout=RUN_TIMEOUT_S)
    except (subprocess.TimeoutExpired, KeyboardInterrupt):
        # SIGTERM: the harness stops its server and removes its directory, as on Ctrl-C.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=60)
        raise


def header_lines(output: str) -> list[str]:
    """The harness's lines of the pytest header: the first run of lines starting ``database``."""
    lines: list[str] = []
    for line in output.splitlines():
        if line.startswith(_HEADER_PREFIX):
            lines.append(line)
        elif lines:
            break
    return lines
