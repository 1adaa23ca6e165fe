"""External servers: a migrated template kept per schema key, and the sweep of dead runs' databases.

A run's databases are named ``test_<run id>_…`` and carry a comment that marks them as the harness's
with their creation time. While a run lives, its controller holds a session advisory lock keyed by
its run id; the server releases it when that session ends, however the run ended (SIGKILL included).
A later run drops the marked databases of runs whose lock is free and that are older than a minute,
and never a database still in use (no FORCE), nor one without the mark (older harness versions).
"""

from __future__ import annotations

import re
import time
from typing import Any

import psycopg
from psycopg import sql

from pytest_dbharness.backends.postgres_servers import ServerAddress

# A namespace for the harness's advisory locks ("BT"), above the run id's 32 bits.
_LOCK_NAMESPACE = 0x4254
MARK = "backend-tests run {run_id} created {created}"
_MARKED = re.compile(r"^backend-tests run (?P<run_id>[0-9a-f]{8}) created (?P<created>\d+)$")
SWEEP_MIN_AGE_S = 60


def cached_template_name(schema_key: str) -> str:
    """Outside the ``test_<run id>_`` names, so no run's teardown or sweep drops it."""
    return f"backend_template_{schema_key}"


def run_lock_key(run_id: str) -> int:
    return (_LOCK_NAMESPACE << 32) | int(run_id, 16)


def hold_run_lock(address: ServerAddress, run_id: str) -> psycopg.Connection[Any]:
    """A session that holds this run's lock until it is closed (or the process dies)."""
    connection = address.connect()
    connection.execute("SELECT pg_advisory_lock(%s)", (run_lock_key(run_id),))
    return connection


def mark(connection: psycopg.Connection[Any], database: str, run_id: str) -> None:
    comment = MARK.format(run_id=run_id, created=int(time.time()))
    connection.execute(
        sql.SQL("COMMENT ON DATABASE {} IS {}").format(
            sql.Identifier(database), sql.Literal(comment)
        )
    )


def sweep_dead_runs(address: ServerAddress, own_run_id: str) -> list[str]:
    """Drop the marked databases of runs that ended without dropping them; return their names."""
    dropped: list[str] = []
    with address.connect() as connection:
        rows = connection.execute(
            "SELECT datname, shobj_description(oid, 'pg_database') FROM pg_database"
        ).fetchall()
        dead: dict[str, list[str]] = {}
        for name, comment in rows:
            marked = _MARKED.match(comment or "")
            if marked is None or marked["run_id"] == own_run_id:
                continue
            if not name.startswith(f"test_{marked['run_id']}_"):
                continue
            if time.time() - int(marked["created"]) < SWEEP_MIN_AGE_S:
                continue
            dead.setdefault(marked["run_id"], []).append(name)
        for run_id, names in dead.items():
            dropped += _drop_if_dead(connection, run_id, names)
    return dropped


def _drop_if_dead(connection: psycopg.Connection[Any], run_id: str, names: list[str]) -> list[str]:
    key = run_lock_key(run_id)
    row = connection.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
    if not (row and row[0]):
        return []  # its run still holds the lock: alive
    dropped = []
    try:
        for name in names:
            try:
                connection.execute(sql.SQL("DROP DATABASE {}").format(sql.Identifier(name)))
            except psycopg.errors.ObjectInUse:
                continue  # someone is connected: not ours to end
            dropped.append(name)
    finally:
        connection.execute("SELECT pg_advisory_unlock(%s)", (key,))
    return dropped
