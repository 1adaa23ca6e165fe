"""The trace's rules: which measured effects block a live database, and the safe pattern for each.

A lock that blocks writes (SHARE and stronger; ACCESS EXCLUSIVE blocks reads too) is dangerous
when it is held for a time that grows with the table: while the table is rewritten, while it is
scanned, or while later statements of the same transaction do work that grows with a table.
Taken briefly it is not (adding a nullable column, a NOT VALID constraint): it only has to wait
its turn, which ``lock_timeout`` bounds. Writing every row of a table in one transaction locks
every row against other writers until it commits.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from pytest_dbharness.migration_safety.lint import tables_named
from pytest_dbharness.migration_safety.observe import WRITE_BLOCKING, Statement, strongest
from pytest_dbharness.migration_safety.trace import RevisionTrace

REWRITE = "rewrite-under-lock"
SCAN = "scan-under-lock"
WORK = "work-under-lock"
BACKFILL = "backfill-in-one-transaction"
FAILED = "fails-on-existing-rows"
INVALID_INDEX = "invalid-index-left"
TRACE_RULES = (REWRITE, SCAN, WORK, BACKFILL, FAILED, INVALID_INDEX)
# Work that grows with a table: a sequential scan of it, or changing more than this share of its rows.
WORK_SHARE = 0.01

LOCK_TIMEOUT = (
    "keep lock_timeout set (backend migrate does) so that waiting for it cannot queue everyone"
)


@dataclass(frozen=True)
class Finding:
    rule: str
    table: str | None
    sql: str
    what: str
    safe_pattern: str


def lock_name(mode: str) -> str:
    """AccessExclusiveLock -> ACCESS EXCLUSIVE, as PostgreSQL's documentation names it."""
    return re.sub(r"(?<=[a-z])(?=[A-Z])", " ", mode.removesuffix("Lock")).upper()


def trace_findings(trace: RevisionTrace) -> list[Finding]:
    findings: list[Finding] = []
    held: dict[int, dict[str, tuple[str, Statement]]] = {}
    work: dict[int, dict[str, int]] = {}
    for statement in trace.statements:
        locks = held.setdefault(statement.transaction, {})
        done = work.setdefault(statement.transaction, {})
        if locks:
            findings += _work_under_earlier_locks(trace, statement, locks, done)
        for table, modes in statement.locks.items():
            blocking = modes & WRITE_BLOCKING
            if blocking:
                locks.setdefault(table, (strongest(blocking), statement))
        findings += _scans_and_rewrites(trace, statement)
        if statement.error:
            findings.append(_failure(trace, statement))
    findings += _backfills(trace)
    findings += [
        Finding(
            INVALID_INDEX,
            index.split(" on ")[-1],
            index,
            f"the upgrade left the invalid index {index} (pg_index.indisvalid is false)",
            "a CREATE INDEX CONCURRENTLY failed part-way: drop the index first in the same "
            "autocommit block (drop_index(..., if_exists=True, postgresql_concurrently=True))",
        )
        for index in trace.invalid_indexes
    ]
    return _first_of_each(findings)


def _first_of_each(findings: list[Finding]) -> list[Finding]:
    """One finding per rule and table: a loop of statements under one lock is one problem."""
    first: dict[tuple[str, str | None], Finding] = {}
    repeats: dict[tuple[str, str | None], int] = {}
    for finding in findings:
        key = (finding.rule, finding.table)
        if key in first:
            repeats[key] = repeats.get(key, 0) + 1
        else:
            first[key] = finding
    return [
        replace(found, what=f"{found.what} (and in {repeats[key]} more statements)")
        if key in repeats
        else found
        for key, found in first.items()
    ]


def _rows(trace: RevisionTrace, table: str) -> str:
    known = trace.tables.get(table)
    return f"{known.rows} rows" if known else "rows unknown"


def _scans_and_rewrites(trace: RevisionTrace, statement: Statement) -> list[Finding]:
    findings = []
    for table, modes in statement.locks.items():
        blocking = modes & WRITE_BLOCKING
        if not blocking:
            continue
        lock = lock_name(strongest(blocking))
        where = f"{table} ({_rows(trace, table)})"
        if table in statement.rewritten:
            findings.append(
                Finding(
                    REWRITE,
                    table,
                    statement.sql,
                    f"rewrote {where} under {lock}, held {statement.seconds * 1000:.0f} ms here",
                    safe_pattern(REWRITE, statement.sql),
                )
            )
        elif table in statement.scanned:
            findings.append(
                Finding(
                    SCAN,
                    table,
                    statement.sql,
                    f"read all of {where} under {lock}, held {statement.seconds * 1000:.0f} ms here",
                    safe_pattern(SCAN, statement.sql),
                )
            )
    return findings


def _work_under_earlier_locks(
    trace: RevisionTrace,
    statement: Statement,
    locks: dict[str, tuple[str, Statement]],
    done: dict[str, int],
) -> list[Finding]:
    """Statements that scan a table, or change rows (counted since the lock), under a lock."""
    worked = [table for table in statement.scanned if table not in statement.rewritten]
    for table in {**statement.rows_changed, **statement.rows_added}:
        rows = statement.rows_changed.get(table, 0) + statement.rows_added.get(table, 0)
        done[table] = done.get(table, 0) + rows
        known = trace.tables.get(table)
        if known and done[table] > WORK_SHARE * known.rows and table not in worked:
            worked.append(table)
    if not worked:
        return []
    return [
        Finding(
            WORK,
            locked,
            statement.sql,
            f"held {lock_name(mode)} on {locked} ({_rows(trace, locked)}), taken by statement "
            f"{earlier.number} ({_short(earlier.sql)}), while this statement worked through "
            f"{', '.join(sorted(worked))}",
            safe_pattern(WORK, statement.sql),
        )
        for locked, (mode, earlier) in locks.items()
    ]


def _backfills(trace: RevisionTrace) -> list[Finding]:
    written: dict[tuple[int, str], int] = {}
    last_sql: dict[tuple[int, str], str] = {}
    for statement in trace.statements:
        for table, rows in statement.rows_changed.items():
            key = (statement.transaction, table)
            written[key] = written.get(key, 0) + rows
            last_sql[key] = statement.sql
    findings = []
    for (_transaction, table), rows in written.items():
        known = trace.tables.get(table)
        if known and known.rows and rows >= known.rows:
            findings.append(
                Finding(
                    BACKFILL,
                    table,
                    last_sql[(_transaction, table)],
                    f"changed all {rows} rows of {table} ({known.rows} rows) in one transaction: "
                    "each stays locked against other writers until it commits",
                    safe_pattern(BACKFILL, ""),
                )
            )
    return findings


def _failure(trace: RevisionTrace, statement: Statement) -> Finding:
    named = sorted(tables_named(statement.sql) & set(trace.tables))
    table = named[0] if named else None
    where = f" on {table} ({_rows(trace, table)})" if table else ""
    return Finding(
        FAILED,
        table,
        statement.sql,
        f"failed{where}: {statement.error}",
        safe_pattern(FAILED, statement.sql),
    )


def _short(sql: str, size: int = 70) -> str:
    flat = " ".join(sql.split())
    return flat if len(flat) <= size else flat[: size - 1] + "…"


_PATTERNS = (
    (
        r"CREATE\s+(UNIQUE\s+)?INDEX",
        "build the index CONCURRENTLY in an autocommit block: `with op.get_context()."
        "autocommit_block(): op.create_index(..., postgresql_concurrently=True)`, after "
        "op.drop_index(..., if_exists=True, postgresql_concurrently=True) for an invalid leftover",
    ),
    (
        r"ADD\s+CONSTRAINT\s+\S+\s+(UNIQUE|PRIMARY\s+KEY)",
        "build a unique index CONCURRENTLY in an autocommit block, then ADD CONSTRAINT … UNIQUE "
        "USING INDEX (a brief ACCESS EXCLUSIVE)",
    ),
    (
        r"ADD\s+CONSTRAINT\s+\S+\s+(FOREIGN\s+KEY|CHECK)|REFERENCES",
        "add the constraint NOT VALID (postgresql_not_valid=True), then VALIDATE CONSTRAINT in "
        "an autocommit block: validating takes SHARE UPDATE EXCLUSIVE, which blocks no writes",
    ),
    (
        r"SET\s+NOT\s+NULL|ADD\s+(COLUMN\s+)?\S+\s+.*NOT\s+NULL",
        "add the column nullable, back-fill it in batches in an autocommit block, add CHECK (col "
        "IS NOT NULL) NOT VALID, VALIDATE it in an autocommit block, then SET NOT NULL (no scan "
        "once the check is valid) and drop the check",
    ),
    (
        r"ALTER\s+COLUMN\s+\S+\s+(SET\s+DATA\s+)?TYPE",
        "do not change the type in place (it rewrites the table): add a column of the new type, "
        "back-fill it in batches, move readers to it, drop the old one in a later revision",
    ),
    (
        r"^\s*(UPDATE|DELETE|INSERT)",
        "back-fill in batches by key range, each committed on its own (an autocommit block), "
        "not in the transaction that altered the table",
    ),
)


def safe_pattern(rule: str, sql: str) -> str:
    if rule == BACKFILL:
        return _PATTERNS[-1][1]
    if rule == WORK:
        return (
            "commit the ALTER before the work: run the back-fill in batches inside an "
            "autocommit block, so the lock ends with the ALTER's short transaction"
        )
    for pattern, advice in _PATTERNS:
        if re.search(pattern, sql, re.IGNORECASE | re.MULTILINE):
            return advice
    return f"keep the lock brief and {LOCK_TIMEOUT}"
