"""Module servers (fixtures/live.py) are told to stop after their module and end while the next
tests run; the run waits for every one of them before its database goes."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from backend.tests.fixtures.live import ServedProcesses, Stopping

# A stand-in for a server: it notes SIGTERM, and exits once told and let go (``gate``), so that
# what the test sees while it shuts down does not depend on how fast the machine is.
SHUTS_DOWN_WHEN_LET_GO = """
import pathlib, signal, sys, time
gate = pathlib.Path(sys.argv[1])
told = []
signal.signal(signal.SIGTERM, lambda *_: told.append(True))
(gate.parent / "ready").touch()
while not (told and gate.exists()):
    time.sleep(0.01)
"""


def test_servers_told_to_stop_end_beside_the_next_tests_and_all_by_the_join(
    tmp_path: Path,
) -> None:
    gate = tmp_path / "gate"
    servers = ServedProcesses("sqlite+aiosqlite:///unused.sqlite3", tmp_path)
    process = subprocess.Popen(
        [sys.executable, "-c", SHUTS_DOWN_WHEN_LET_GO, str(gate)], start_new_session=True
    )
    servers.started.append(process)
    deadline = time.monotonic() + 30
    while not (tmp_path / "ready").exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    stopping = Stopping()

    stopping.stop(servers)

    assert process.poll() is None  # told, still shutting down: the tests go on meanwhile
    gate.touch()
    stopping.join()
    assert process.returncode == 0  # it ended by itself, after SIGTERM, not killed
