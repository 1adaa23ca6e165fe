"""What each statement of a migration does to the tables that existed before it, measured on PostgreSQL.

Per statement: the locks it took (``pg_locks`` of the migration's backend), whether it rewrote a
table (its ``relfilenode`` changed), whether it read a whole table (a sequential scan counted by
``pg_stat_get_xact_numscans``) and how many rows it changed or added (``pg_stat_get_xact_tuples_*``);
per lock, how long it was held (until its transaction ended).

These are read on the migration's own connection, inside its transaction, the only place the
catalog and the statistics show a statement's effect before it commits. A statement run outside a
transaction (an autocommit block) is first run inside one that is rolled back, to be measured the
same way. One PostgreSQL refuses to run there (``CREATE INDEX CONCURRENTLY``, a ``DO`` block that
commits) has its locks sampled from a second connection while it runs, plus the lock PostgreSQL
documents for it (``documented.py``), and its scans unmeasured."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import psycopg
from sqlalchemy import event
from sqlalchemy.engine import Connection

from pytest_dbharness.migration_safety.documented import documented_locks

# PostgreSQL's table lock modes, weakest first; from SHARE on they block writes.
LOCK_MODES = (
    "AccessShareLock",
    "RowShareLock",
    "RowExclusiveLock",
    "ShareUpdateExclusiveLock",
    "ShareLock",
    "ShareRowExclusiveLock",
    "ExclusiveLock",
    "AccessExclusiveLock",
)
WRITE_BLOCKING = frozenset(LOCK_MODES[4:])

_LOCKS = (
    "SELECT relation::oid, mode FROM pg_locks "
    "WHERE pid = %s AND locktype = 'relation' AND granted AND relation = ANY(%s)"
)
# On the migration's connection, in its transaction: per table, its file, this transaction's
# sequential scans, rows changed and rows added, and the locks this backend holds on it.
_COUNTERS = (
    "SELECT c.oid, c.relfilenode, pg_stat_get_xact_numscans(c.oid), "
    "pg_stat_get_xact_tuples_updated(c.oid) + pg_stat_get_xact_tuples_deleted(c.oid), "
    "pg_stat_get_xact_tuples_inserted(c.oid), ARRAY(SELECT l.mode FROM pg_locks l "
    "WHERE l.pid = pg_backend_pid() AND l.locktype = 'relation' AND l.granted "
    "AND l.relation = c.oid) FROM pg_class c WHERE c.oid = ANY(%s)"
)


def strongest(modes: set[str]) -> str:
    return max(modes, key=LOCK_MODES.index)


@dataclass(frozen=True)
class ExistingTable:
    oid: int
    name: str
    rows: int


@dataclass
class Statement:
    """One statement the migration ran, as it touched tables that existed before the revision."""

    number: int
    sql: str
    transaction: int
    autocommit: bool
    seconds: float = 0.0
    locks: dict[str, set[str]] = field(default_factory=dict)
    """Per table, the lock modes this statement took (held already before it: not listed)."""
    scanned: set[str] = field(default_factory=set)
    rewritten: set[str] = field(default_factory=set)
    rows_changed: dict[str, int] = field(default_factory=dict)
    """Rows updated or deleted, per table."""
    rows_added: dict[str, int] = field(default_factory=dict)
    repeats: int = 1
    """Consecutive runs of the same SQL in one transaction (a loop over rows) are one statement."""
    locks_sampled: bool = False
    """Ran where it could not be measured in a transaction: locks sampled, scans not measured."""
    error: str | None = None
    started: float = 0.0


@dataclass(frozen=True)
class Hold:
    """A lock on an existing table from the statement that took it to the end of its transaction."""

    table: str
    mode: str
    seconds: float
    statement: int


@dataclass(frozen=True)
class Counters:
    """One table as the migration's transaction sees it."""

    relfilenode: int
    scans: int = 0
    changed: int = 0
    added: int = 0
    locks: frozenset[str] = frozenset()


class Tracer:
    """Records what the statements on ``connection`` do while the ``with`` block runs."""

    def __init__(
        self, connection: Connection, observer: psycopg.Connection[Any], tables: list[ExistingTable]
    ) -> None:
        self.connection = connection
        self.dbapi: Any = connection.connection.dbapi_connection
        self.observer = observer
        self.tables = {table.oid: table for table in tables}
        self.pid = int(connection.exec_driver_sql("SELECT pg_backend_pid()").scalar_one())
        connection.commit()
        self.statements: list[Statement] = []
        self.holds: list[Hold] = []
        self._held: dict[tuple[str, str], Statement] = {}
        self._transaction = 0
        # This transaction's counters after its last statement (None: no statement yet).
        self._last: dict[int, Counters] | None = None
        self._sampler: _Sampler | None = None
        self._documented: dict[str, set[str]] = {}
        # The last statement ran again without being measured after each run (see _repeat).
        self._unmeasured = False
        self._repeat_started = 0.0

    def __enter__(self) -> Tracer:
        for name, listener in self._listeners().items():
            event.listen(self.connection.engine, name, listener)
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        for name, listener in self._listeners().items():
            event.remove(self.connection.engine, name, listener)
        self._end_transaction()

    def _listeners(self) -> dict[str, Any]:
        return {
            "before_cursor_execute": self._before_statement,
            "after_cursor_execute": self._after_statement,
            "handle_error": self._failed_statement,
            "commit": self._committing,
            "rollback": self._rolling_back,
        }

    def _ours(self, connection: Connection | None) -> bool:
        return connection is not None and connection.connection.dbapi_connection is self.dbapi

    def _before_statement(
        self, conn: Connection, _cursor: Any, sql: str, params: Any, _context: Any, many: bool
    ) -> None:
        if not self._ours(conn):
            return
        autocommit = bool(self.dbapi.autocommit)
        if not autocommit and self._repeat(sql):
            return
        self._measure_repeats()
        if autocommit:
            self._end_transaction()
        statement = Statement(len(self.statements) + 1, sql, self._transaction, autocommit)
        self.statements.append(statement)
        if autocommit:
            self._measure_in_a_rolled_back_transaction(statement, params, many=many)
        elif self._last is None:
            self._last = self._counters()
        statement.started = time.perf_counter()

    def _repeat(self, sql: str) -> bool:
        """The same SQL again, in the same transaction: counted, and measured once the run ends.

        A data migration's loop over rows runs one statement thousands of times; measuring each
        would cost more than the migration. Its effects add up until another statement comes.
        """
        last = self.statements[-1] if self.statements else None
        if last is None or last.sql != sql or last.transaction != self._transaction or last.error:
            return False
        last.repeats += 1
        self._unmeasured = True
        self._repeat_started = time.perf_counter()
        return True

    def _measure_repeats(self) -> None:
        if self._unmeasured and self._last is not None:
            after = self._counters()
            self._record(self.statements[-1], self._last, after)
            self._last = after
        self._unmeasured = False

    def _after_statement(self, conn: Connection, *_: Any) -> None:
        if not self._ours(conn):
            return
        statement = self.statements[-1]
        if self._unmeasured:
            statement.seconds += time.perf_counter() - self._repeat_started
            return
        statement.seconds = time.perf_counter() - statement.started
        if statement.locks_sampled:
            self._stop_sampling(statement)
        elif statement.autocommit:
            self._hold_for_the_statement(statement)
        else:
            assert self._last is not None
            after = self._counters()
            self._record(statement, self._last, after)
            self._last = after
            for table, modes in statement.locks.items():
                for mode in modes:
                    self._held[(table, mode)] = statement

    def _failed_statement(self, context: Any) -> None:
        if not self._ours(context.connection) or not self.statements:
            return
        statement = self.statements[-1]
        statement.seconds = time.perf_counter() - statement.started
        statement.error = first_line(context.original_exception)
        self._unmeasured = False
        # PostgreSQL releases a failed statement's locks as the error aborts its transaction: the
        # failure is reported with the tables its SQL names (rules.py).
        if statement.locks_sampled:
            self._stop_sampling(statement)

    def _committing(self, conn: Connection) -> None:
        if self._ours(conn):
            self._measure_repeats()  # still inside the transaction: its counters are readable
            self._end_transaction()

    def _rolling_back(self, conn: Connection) -> None:
        if self._ours(conn):
            self._unmeasured = False  # what the loop did is being undone
            self._end_transaction()

    def _end_transaction(self) -> None:
        now = time.perf_counter()
        for (table, mode), statement in self._held.items():
            self.holds.append(Hold(table, mode, now - statement.started, statement.number))
        self._held.clear()
        self._last = None
        self._transaction += 1

    # Measurements.

    def _counters(self) -> dict[int, Counters]:
        rows = _query(self.dbapi, _COUNTERS, (list(self.tables),))
        return {
            int(oid): Counters(int(node), int(scans), int(changed), int(added), frozenset(locks))
            for oid, node, scans, changed, added, locks in rows
        }

    def _record(
        self, statement: Statement, before: dict[int, Counters], after: dict[int, Counters]
    ) -> None:
        for oid, now in after.items():
            was = before.get(oid)
            if was is None:
                continue
            name = self.tables[oid].name
            if now.relfilenode != was.relfilenode:
                statement.rewritten.add(name)
            if now.scans > was.scans:
                statement.scanned.add(name)
            if now.changed > was.changed:
                changed = statement.rows_changed.get(name, 0) + now.changed - was.changed
                statement.rows_changed[name] = changed
            if now.added > was.added:
                statement.rows_added[name] = (
                    statement.rows_added.get(name, 0) + now.added - was.added
                )
            if now.locks - was.locks:
                statement.locks.setdefault(name, set()).update(now.locks - was.locks)

    def _measure_in_a_rolled_back_transaction(
        self, statement: Statement, params: Any, *, many: bool
    ) -> None:
        if many:
            statement.locks_sampled = True  # one statement, many parameter sets: not replayed
        else:
            try:
                _query(self.dbapi, "BEGIN", None, fetch=False)
                before = self._counters()
                _query(self.dbapi, statement.sql, params, fetch=False)
                self._record(statement, before, self._counters())
            except psycopg.Error:
                # Refused in a transaction (SQLSTATE 25001), or failing: watched as it runs.
                statement.locks_sampled = True
            finally:
                _query(self.dbapi, "ROLLBACK", None, fetch=False)
        if statement.locks_sampled:
            self._last = self._counters()
            self._documented = documented_locks(statement.sql, self._table_of_index)
            self._sampler = _Sampler(self.observer, self.pid, self.tables)

    def _table_of_index(self, index: str) -> str | None:
        row = self.observer.execute(
            "SELECT indrelid::regclass::text FROM pg_index WHERE indexrelid = to_regclass(%s)",
            (index,),
        ).fetchone()
        return str(row[0]) if row else None

    def _stop_sampling(self, statement: Statement) -> None:
        assert self._sampler is not None
        assert self._last is not None
        statement.locks = self._sampler.stop()
        known = {table.name for table in self.tables.values()}
        for table, modes in self._documented.items():
            if table in known:
                statement.locks.setdefault(table, set()).update(modes)
        self._sampler = None
        after = self._counters()
        statement.rewritten = {
            self.tables[oid].name
            for oid, now in after.items()
            if oid in self._last and self._last[oid].relfilenode != now.relfilenode
        }
        self._last = None
        self._hold_for_the_statement(statement)

    def _hold_for_the_statement(self, statement: Statement) -> None:
        """Outside a transaction a statement's locks end with it."""
        for table, modes in statement.locks.items():
            self.holds.append(Hold(table, strongest(modes), statement.seconds, statement.number))


class _Sampler:
    """Polls the migration backend's table locks from the observer connection while a statement runs."""

    def __init__(
        self, observer: psycopg.Connection[Any], pid: int, tables: dict[int, ExistingTable]
    ) -> None:
        self.observer, self.pid, self.tables = observer, pid, tables
        self.seen: dict[str, set[str]] = {}
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        with self.observer.cursor() as cursor:
            # As often as the round trip allows: only while such a statement runs.
            while not self._stopped.is_set():
                for oid, mode in cursor.execute(_LOCKS, (self.pid, list(self.tables))):
                    self.seen.setdefault(self.tables[int(oid)].name, set()).add(str(mode))

    def stop(self) -> dict[str, set[str]]:
        self._stopped.set()
        self._thread.join()
        return self.seen


def _query(dbapi: Any, sql: str, params: Any, *, fetch: bool = True) -> list[Any]:
    """Run SQL on the migration's own driver connection, unseen by SQLAlchemy's events."""
    cursor = dbapi.cursor()
    try:
        cursor.execute(sql, params)
        return list(cursor.fetchall()) if fetch else []
    finally:
        cursor.close()


def first_line(error: BaseException) -> str:
    orig = getattr(error, "orig", None) or error
    lines = str(orig).strip().splitlines()
    return lines[0] if lines else type(orig).__name__
