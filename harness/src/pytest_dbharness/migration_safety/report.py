"""Checking a whole history (trace, lint, verdicts) and the table of every revision it reports."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import Connection

from pytest_dbharness.migration_safety.lint import lint
from pytest_dbharness.migration_safety.observe import WRITE_BLOCKING, strongest
from pytest_dbharness.migration_safety.rules import lock_name
from pytest_dbharness.migration_safety.trace import RevisionTrace, trace_history
from pytest_dbharness.migration_safety.verdict import Verdict, judge
from pytest_dbharness.schema import revision_message


@dataclass(frozen=True)
class SafetyReport:
    verdicts: list[Verdict]
    rows: int

    @property
    def failures(self) -> list[str]:
        return [failure for verdict in self.verdicts for failure in verdict.failures]

    def table(self) -> str:
        """One line per revision: locks on existing tables, rewrites, the longest hold, verdict."""
        header = (
            "revision",
            "locks on existing tables",
            "rewrite",
            "longest write-blocking hold",
            "lint",
            "verdict",
        )
        lines = [header, *(_row(verdict) for verdict in self.verdicts)]
        widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
        rendered = [
            " | ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
            for line in lines
        ]
        rendered.insert(1, "-+-".join("-" * width for width in widths))
        intro = (
            f"each revision upgraded alone on a PostgreSQL whose tables hold {self.rows} rows each"
        )
        return "\n".join([intro, *rendered, *self._declared()])

    def _declared(self) -> list[str]:
        lines = []
        for verdict in self.verdicts:
            reasons: dict[str, list[str]] = {}
            for what, declaration in verdict.accepted:
                reasons.setdefault(declaration.reason, []).append(what)
            for reason, accepted in reasons.items():
                lines.append(f"{verdict.script.revision} declares, because {reason}:")
                lines += [f"    {what}" for what in accepted]
        return ["", *lines] if lines else []


def check_history(
    connection: Connection,
    *,
    rows: int,
    squawk_config: Path,
    workdir: Path,
    values: Mapping[str, str] | None = None,
    only: Sequence[str] = (),
) -> SafetyReport:
    """Trace and lint every revision (or ``only`` those) on the empty database of ``connection``."""
    traces = trace_history(connection, rows=rows, values=values, only=only)
    verdicts = [
        judge(
            trace.script,
            trace if trace.not_traced is None else None,
            lint(trace.script, config=squawk_config, workdir=workdir),
        )
        for trace in traces
    ]
    return SafetyReport(verdicts, rows)


def _row(verdict: Verdict) -> tuple[str, ...]:
    script, trace = verdict.script, verdict.trace
    name = f"{script.revision} {revision_message(script)[:40]}".rstrip()
    lint_cell = (
        f"{len(verdict.lint)} finding{'s' if len(verdict.lint) != 1 else ''}"
        if verdict.lint
        else "clean"
    )
    state = "FAIL" if verdict.failures else "declared" if verdict.accepted else "ok"
    if trace is None:
        return (name, "not traced: an earlier revision failed", "", "", lint_cell, state)
    return (name, _locks(trace), _rewrites(trace), _longest_hold(trace), lint_cell, state)


def _locks(trace: RevisionTrace) -> str:
    taken: dict[str, set[str]] = {}
    for statement in trace.statements:
        for table, modes in statement.locks.items():
            taken.setdefault(table, set()).update(modes)
    shown = ", ".join(
        f"{table} {lock_name(strongest(modes))}" for table, modes in sorted(taken.items())
    )
    # A statement run outside any transaction (CONCURRENTLY) is watched while it runs, not
    # measured in one: its locks are what the samples saw and what PostgreSQL documents.
    sampled = sum(1 for statement in trace.statements if statement.locks_sampled)
    if sampled:
        return f"{shown or 'none'} ({sampled} outside a transaction: sampled, and as documented)"
    return shown or "none"


def _rewrites(trace: RevisionTrace) -> str:
    rewritten = sorted({table for statement in trace.statements for table in statement.rewritten})
    return ", ".join(rewritten) or "no"


def _longest_hold(trace: RevisionTrace) -> str:
    holds = [hold for hold in trace.holds if hold.mode in WRITE_BLOCKING]
    if not holds:
        return "none"
    longest = max(holds, key=lambda hold: hold.seconds)
    return f"{lock_name(longest.mode)} on {longest.table}, {longest.seconds * 1000:.0f} ms"
