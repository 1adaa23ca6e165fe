"""squawk, the PostgreSQL migration linter, on each revision's offline SQL, one revision at a time.

One revision per file because squawk treats a table created earlier in the same file as new and
lets everything done to it pass: linted as one script, the whole history would say nothing.
The SQL is ``alembic upgrade PARENT:REVISION --sql`` rendered for PostgreSQL (no server needed),
through the project's own env.py; the rules and their settings are the project's squawk config.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from alembic.script import Script

from alembic import command
from pytest_dbharness.project import current_project

# Offline rendering needs a PostgreSQL URL, never a server.
OFFLINE_URL = "postgresql+psycopg://lint@localhost/lint"
_TABLE_AFTER = re.compile(
    r"\b(?:TABLE(?:\s+ONLY)?(?:\s+IF\s+(?:NOT\s+)?EXISTS)?|ON(?:\s+ONLY)?|REFERENCES|INTO|UPDATE|"
    r"FROM|JOIN)\s+((?:\"[^\"]+\"|[A-Za-z_][\w$]*)(?:\.(?:\"[^\"]+\"|[A-Za-z_][\w$]*))?)",
    re.IGNORECASE,
)


class SquawkMissing(Exception):
    """No squawk binary: the message says what to install."""


@dataclass(frozen=True)
class LintFinding:
    rule: str
    message: str
    help: str
    statement: str
    tables: frozenset[str]


def offline_sql(script: Script) -> str:
    """The SQL that upgrading from the revision's parent to it runs on PostgreSQL."""
    config = current_project().alembic_config(url=OFFLINE_URL)
    buffer = io.StringIO()
    config.output_buffer = buffer
    parent = script.down_revision
    start = (parent if isinstance(parent, str) else parent[0]) if parent else "base"
    command.upgrade(config, f"{start}:{script.revision}", sql=True)
    return buffer.getvalue()


def lint(script: Script, *, config: Path, workdir: Path) -> list[LintFinding]:
    """squawk's findings on one revision (its SQL is kept in ``workdir`` to be read)."""
    sql = offline_sql(script)
    path = workdir / f"{script.revision}.sql"
    path.write_text(sql)
    result = subprocess.run(
        [squawk_binary(), "--reporter", "json", "--config", str(config), str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    try:
        reported = json.loads(result.stdout or "[]")
    except json.JSONDecodeError:
        raise RuntimeError(
            f"squawk did not report on {path} (exit {result.returncode}): "
            f"{(result.stderr or result.stdout).strip()[:500]}"
        ) from None
    lines = sql.splitlines()
    return [_finding(item, lines) for item in reported]


def squawk_binary() -> str:
    """squawk from the running environment (the squawk-cli wheel), else from PATH."""
    beside = Path(sys.executable).parent / "squawk"
    found = str(beside) if beside.exists() else shutil.which("squawk")
    if not found:
        raise SquawkMissing(
            "squawk is not installed: add the squawk-cli package (PyPI) to the test "
            "dependencies, or put a squawk binary on PATH"
        )
    return found


def _finding(item: dict[str, object], lines: list[str]) -> LintFinding:
    statement = _statement_at(
        lines, int(str(item["line"])), int(str(item.get("line_end") or item["line"]))
    )
    return LintFinding(
        rule=str(item["rule_name"]),
        message=str(item["message"]),
        help=str(item.get("help") or ""),
        statement=statement,
        tables=tables_named(statement),
    )


def tables_named(sql: str) -> frozenset[str]:
    """The tables a statement names (after TABLE, ON, REFERENCES, INTO, UPDATE, FROM, JOIN)."""
    return frozenset(match.split(".")[-1].strip('"') for match in _TABLE_AFTER.findall(sql))


def _statement_at(lines: list[str], first: int, last: int) -> str:
    """The whole statement around squawk's 0-based lines: back to the previous ``;``, on to one."""
    start = first
    while start > 0 and lines[start - 1].strip() and not lines[start - 1].rstrip().endswith(";"):
        start -= 1
    end = last
    while end < len(lines) - 1 and not lines[end].rstrip().endswith(";"):
        end += 1
    return "\n".join(lines[start : end + 1]).strip()
