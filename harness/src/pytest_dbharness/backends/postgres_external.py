"""External servers: a migrated template kept per schema key, and the sweep of dead runs' databases.

The kept template refuses connections (``ALLOW_CONNECTIONS false``) and carries its revision in its
comment: ``CREATE DATABASE … TEMPLATE`` fails while anyone is connected to the template (and
pytest-postgresql ends such sessions first), so no run, nor anyone else, may hold it while another
run clones from it.

A run's databases are named ``test_<run id>_…`` and carry a comment that marks them as the harness's
with their creation time. While a run lives, its controller holds a session advisory lock keyed by
its run id; the server releases it when that session ends, however the run ended (SIGKILL included).
A later run drops the marked databases of runs whose lock is free and that are older than a minute,
and never a database still in use (no FORCE), nor one without the mark (older harness versions).

Kept templates do not pile up as the migrations change (a new schema key, a new template): when a
run publishes one, it drops the kept templates beyond the newest ``KEEP_TEMPLATES`` that no run
is using. A run uses a template from the moment it finds or publishes it until its end: it holds
a shared advisory lock keyed by the template's schema key on its run-lock session, and the drop
takes that lock exclusively first, so a template another run may still clone from stays.
"""

from __future__ import annotations

import re
import time
from typing import Any

import psycopg
from psycopg import sql

from pytest_dbharness.backends.postgres_servers import ServerAddress

# Namespaces for the harness's advisory locks, above the 32 bits of a run id or schema key: a run
# ("BT"), and a kept template in use ("TP").
_LOCK_NAMESPACE = 0x4254
_TEMPLATE_LOCK_NAMESPACE = 0x5450
MARK = "pytest-dbharness run {run_id} created {created}"
_MARKED = re.compile(r"^pytest-dbharness run (?P<run_id>[0-9a-f]{8}) created (?P<created>\d+)$")
KEPT = "pytest-dbharness: migrated template at revision {revision}, kept at {kept_at}"
# Without the time: kept by a harness that did not prune (it is the first to go).
_KEPT = re.compile(
    r"^pytest-dbharness: migrated template at revision (?P<revision>\S+), kept(?: at (?P<at>\d+))?$"
)
SWEEP_MIN_AGE_S = 60
# How many kept templates (schema keys) an external server holds: the newest ones.
KEEP_TEMPLATES = 3
_TEMPLATE_PREFIX = "dbharness_template_"


def cached_template_name(schema_key: str) -> str:
    """Outside the ``test_<run id>_`` names, so no run's teardown or sweep drops it."""
    return f"{_TEMPLATE_PREFIX}{schema_key}"


def _template_lock_key(template: str) -> int | None:
    """The advisory lock of a kept template in use; None for a name the harness did not make."""
    key = template.removeprefix(_TEMPLATE_PREFIX)[:8]
    if not template.startswith(_TEMPLATE_PREFIX) or not re.fullmatch(r"[0-9a-f]{8}", key):
        return None
    return (_TEMPLATE_LOCK_NAMESPACE << 32) | int(key, 16)


def use_template(run_lock: psycopg.Connection[Any], template: str) -> None:
    """Note, until the run ends (its run-lock session closes), that it clones from ``template``."""
    key = _template_lock_key(template)
    if key is not None:
        run_lock.execute("SELECT pg_advisory_lock_shared(%s)", (key,))


def stop_using_template(run_lock: psycopg.Connection[Any], template: str) -> None:
    """The run no longer clones from ``template`` (it is about to replace it)."""
    key = _template_lock_key(template)
    if key is not None:
        run_lock.execute("SELECT pg_advisory_unlock_shared(%s)", (key,))


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


def publish_template(
    address: ServerAddress, built: str, cached: str, *, run_id: str, revision: str, replace: bool
) -> str:
    """Rename this run's migrated template to the cached name; return the name to clone from.

    The comment and the refusal of connections are set before the rename, so no run sees the kept
    name without them. Another run may have published (or be cloning from) the cached one
    meanwhile: then this run keeps its own, marked again as its own for its teardown to drop.
    """
    with address.connect() as connection:
        built_name = sql.Identifier(built)
        connection.execute(
            sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS false").format(built_name)
        )
        connection.execute(
            sql.SQL("COMMENT ON DATABASE {} IS {}").format(
                built_name, sql.Literal(KEPT.format(revision=revision, kept_at=int(time.time())))
            )
        )
        try:
            if replace and not _drop_unused_template(connection, cached):
                raise psycopg.errors.ObjectInUse  # another run clones from it: keep this run's
            connection.execute(
                sql.SQL("ALTER DATABASE {} RENAME TO {}").format(built_name, sql.Identifier(cached))
            )
        except (
            psycopg.errors.DuplicateDatabase,
            psycopg.errors.UniqueViolation,  # two renames racing in the catalog
            psycopg.errors.ObjectInUse,
        ):
            mark(connection, built, run_id)
            return built
    return cached


def kept_template(address: ServerAddress, cached: str) -> tuple[bool, str | None]:
    """Whether the kept template exists, and its revision from its comment (None when it has none:
    kept by an older harness, which let sessions connect to it)."""
    with address.connect() as connection:
        row = connection.execute(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
            (cached,),
        ).fetchone()
    if row is None:
        return False, None
    kept = _KEPT.match(row[0] or "")
    return True, kept["revision"] if kept else None


def prune_kept_templates(address: ServerAddress, keep: int = KEEP_TEMPLATES) -> list[str]:
    """Drop the kept templates beyond the newest ``keep`` that no run uses; return their names."""
    dropped: list[str] = []
    with address.connect() as connection:
        kept = []
        for name, comment in _databases_and_comments(connection):
            found = _KEPT.match(comment or "")
            if found is not None and name.startswith(_TEMPLATE_PREFIX):
                kept.append((int(found["at"] or 0), name))
        for _kept_at, name in sorted(kept, reverse=True)[keep:]:
            if _drop_unused_template(connection, name):
                dropped.append(name)
    return dropped


def _databases_and_comments(connection: psycopg.Connection[Any]) -> list[tuple[str, str | None]]:
    rows = connection.execute(
        "SELECT datname, shobj_description(oid, 'pg_database') FROM pg_database"
    ).fetchall()
    return [(str(name), comment) for name, comment in rows]


def _drop_unused_template(connection: psycopg.Connection[Any], name: str) -> bool:
    key = _template_lock_key(name)
    if key is None:
        return False
    row = connection.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
    if not (row and row[0]):
        return False  # a run clones from it
    try:
        connection.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
    except psycopg.errors.ObjectInUse:
        return False  # held after all
    finally:
        connection.execute("SELECT pg_advisory_unlock(%s)", (key,))
    return True


def sweep_dead_runs(address: ServerAddress, own_run_id: str) -> list[str]:
    """Drop the marked databases of runs that ended without dropping them; return their names."""
    dropped: list[str] = []
    with address.connect() as connection:
        dead: dict[str, list[str]] = {}
        for name, comment in _databases_and_comments(connection):
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
            except psycopg.errors.InvalidCatalogName:
                continue  # another run's sweep, which listed it too, dropped it first
            dropped.append(name)
    finally:
        connection.execute("SELECT pg_advisory_unlock(%s)", (key,))
    return dropped
