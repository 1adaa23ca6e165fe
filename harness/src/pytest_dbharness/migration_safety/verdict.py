"""Each revision's verdict: what the trace and the lint found, less what the revision declares.

A revision that must take a dangerous lock says so next to its code, as plain data (revisions
run in production and import nothing of the test harness)::

    dangerous_operations = [
        {
            "table": "contexts",
            "rules": ["scan-under-lock"],
            "reason": "contexts is created empty two revisions earlier, in the same release",
        },
    ]

``rules`` are the trace's rule names (``rules.TRACE_RULES``) or squawk's. Everything dangerous
that no declaration names fails, and so does a declaration that names nothing found: a stale
excuse would hide the next real problem.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alembic.script import Script

from pytest_dbharness.migration_safety.lint import LintFinding
from pytest_dbharness.migration_safety.rules import FAILED, Finding, trace_findings
from pytest_dbharness.migration_safety.trace import RevisionTrace

DECLARATION = "dangerous_operations"
SQUAWK_DOCS = "https://squawkhq.com/docs/"


@dataclass(frozen=True)
class Declaration:
    table: str
    rules: tuple[str, ...]
    reason: str


@dataclass
class Verdict:
    script: Script
    trace: RevisionTrace | None
    lint: list[LintFinding]
    accepted: list[tuple[str, Declaration]] = field(default_factory=list)
    """What was found and is declared, with the declaration that accepts it."""
    failures: list[str] = field(default_factory=list)

    @property
    def where(self) -> str:
        return f"{_shown_path(self.script.path)} (revision {self.script.revision})"


def declarations(script: Script) -> tuple[list[Declaration], list[str]]:
    """The revision's declarations, and what is wrong with their form."""
    raw: Any = getattr(script.module, DECLARATION, [])
    found, problems = [], []
    entries = raw if isinstance(raw, list | tuple) else [raw]
    for number, entry in enumerate(entries, 1):
        table = entry.get("table") if isinstance(entry, dict) else None
        rules = entry.get("rules") if isinstance(entry, dict) else None
        reason = entry.get("reason") if isinstance(entry, dict) else None
        if (
            not isinstance(table, str)
            or not isinstance(rules, list | tuple)
            or not rules
            or not all(isinstance(rule, str) for rule in rules)
            or not isinstance(reason, str)
            or len(reason.split()) < 4
        ):
            problems.append(
                f"{DECLARATION}[{number - 1}] must be a dict with a table (a name), rules (a list "
                "of rule names) and a reason (a sentence saying why it is acceptable)"
            )
            continue
        found.append(Declaration(table, tuple(rules), reason))
    return found, problems


def judge(script: Script, trace: RevisionTrace | None, lint: list[LintFinding]) -> Verdict:
    verdict = Verdict(script, trace, lint)
    declared, problems = declarations(script)
    verdict.failures += [f"{verdict.where}: {problem}" for problem in problems]
    used: set[tuple[int, str]] = set()

    def accepts(rule: str, tables: set[str]) -> Declaration | None:
        for number, declaration in enumerate(declared):
            if rule in declaration.rules and declaration.table in tables:
                used.add((number, rule))
                return declaration
        return None

    found = trace_findings(trace) if trace is not None else []
    for finding in found:
        declaration = accepts(finding.rule, {finding.table or ""})
        if declaration:
            verdict.accepted.append((f"{finding.rule}: {finding.what}", declaration))
        else:
            verdict.failures.append(_trace_failure(verdict, finding))
    if trace is not None and trace.error and not any(f.rule == FAILED for f in found):
        verdict.failures.append(
            f"{verdict.where}: {FAILED}: the upgrade failed on the populated database: "
            f"{trace.error}"
        )
    for item in lint:
        declaration = accepts(item.rule, set(item.tables))
        if declaration:
            verdict.accepted.append((f"squawk {item.rule}: {item.message}", declaration))
        else:
            verdict.failures.append(_lint_failure(verdict, item))
    for number, declaration in enumerate(declared):
        for rule in declaration.rules:
            if (number, rule) not in used:
                verdict.failures.append(
                    f"{verdict.where}: declares {rule} on {declaration.table}, but neither the "
                    "trace nor squawk found it there: remove it from "
                    f"{DECLARATION} (or correct the rule or table name)"
                )
    return verdict


def _trace_failure(verdict: Verdict, finding: Finding) -> str:
    return (
        f"{verdict.where}: {finding.rule} on {finding.table or 'the database'}: {finding.what}\n"
        f"    statement: {_flat(finding.sql)}\n"
        f"    safe pattern: {finding.safe_pattern}\n"
        f"    {_how_to_declare(finding.rule, finding.table)}"
    )


def _lint_failure(verdict: Verdict, item: LintFinding) -> str:
    tables = ", ".join(sorted(item.tables)) or "the database"
    return (
        f"{verdict.where}: squawk {item.rule} on {tables}: {item.message}\n"
        f"    statement: {_flat(item.statement)}\n"
        f"    safe pattern: {item.help or 'see ' + SQUAWK_DOCS + item.rule}\n"
        f"    {_how_to_declare(item.rule, min(item.tables, default=None))}"
    )


def _how_to_declare(rule: str, table: str | None) -> str:
    return (
        f'or, if it is acceptable, say why in the revision: {DECLARATION} = [{{"table": '
        f'"{table or "TABLE"}", "rules": ["{rule}"], "reason": "..."}}]'
    )


def _flat(sql: str, size: int = 300) -> str:
    flat = " ".join(sql.split())
    return flat if len(flat) <= size else flat[: size - 1] + "…"


def _shown_path(path: str) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:
        return str(Path(path))
