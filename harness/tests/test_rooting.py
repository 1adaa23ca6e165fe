"""``--pg-ctl PATH`` with a space, the form the docs and the messages give, from any directory,
with or without test paths (pytest would otherwise take PATH for a test path and root the run in
PostgreSQL's bin directory: rooting.py)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from runs import SAMPLE_PROJECT, outcome, run_pytest

PG_CTL = shutil.which("pg_ctl") or ""


def _pg_ctl() -> str:
    """``$(pg_config --bindir)/pg_ctl``, as the docs write it."""
    pg_config = shutil.which("pg_config")
    if pg_config:
        bindir = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True).stdout
        return f"{bindir.strip()}/pg_ctl"
    return PG_CTL


@pytest.mark.skipif(not _pg_ctl(), reason="needs a system pg_ctl to name")
@pytest.mark.parametrize(
    ("where", "paths"),
    [(".", []), (".", ["tests/test_notes.py"]), ("tests", []), ("tests", ["test_notes.py"])],
    ids=["root", "root-with-path", "tests-dir", "tests-dir-with-path"],
)
def test_pg_ctl_with_a_space_keeps_the_projects_ini(where: str, paths: list[str]) -> None:
    result = run_pytest(
        SAMPLE_PROJECT / where,
        "--db",
        "postgres",
        "--pg-ctl",
        _pg_ctl(),
        "-k",
        "round_trips",
        *paths,
    )
    assert result.returncode == 0, outcome(result)
    assert f"rootdir: {SAMPLE_PROJECT}" in result.stdout, outcome(result)
    assert "1 passed" in result.stdout, outcome(result)


@pytest.mark.parametrize(
    ("pg_ctl", "said"),
    [
        ("/bin/false", "expected PostgreSQL's pg_ctl"),
        ("/bin/true", "expected PostgreSQL's pg_ctl"),
        ("{tmp}/pg_ctl.txt", "not executable"),
        ("/no/such/pg_ctl", "no such file"),
    ],
)
def test_a_wrong_pg_ctl_is_one_line_naming_it(pg_ctl: str, said: str, tmp_path: Path) -> None:
    not_executable = tmp_path / "pg_ctl.txt"
    not_executable.write_text("not a program\n")
    not_executable.chmod(0o644)
    pg_ctl = pg_ctl.format(tmp=tmp_path)
    result = run_pytest(SAMPLE_PROJECT, "--db", "postgres", "--pg-ctl", pg_ctl)
    assert result.returncode == 4, outcome(result)  # pytest's usage error
    assert f"{pg_ctl}" in result.stderr and said in result.stderr, outcome(result)
    assert "INTERNALERROR" not in outcome(result) and "Traceback" not in outcome(result)
