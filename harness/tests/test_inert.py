"""A project that names no harness_project: the plugin says it is inactive, provisions nothing,
and imports none of the web stack (FastAPI, Starlette, httpx, pydantic) that a configured
project's fixtures use, so a project that installs it and does not use it pays little at start-up."""

from __future__ import annotations

from pathlib import Path

from runs import outcome, run_pytest

# What the inner project's conftest prints at the end of its run.
REPORT = """import sys


def pytest_terminal_summary(terminalreporter):
    stack = [name for name in ("fastapi", "starlette", "httpx", "pydantic") if name in sys.modules]
    terminalreporter.write_line(f"web stack imported: {stack}")
"""


def test_an_inert_plugin_says_so_and_imports_no_web_stack(tmp_path: Path) -> None:
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "conftest.py").write_text(REPORT)
    (tmp_path / "test_plain.py").write_text("def test_plain():\n    assert 1 + 1 == 2\n")
    # Only this plugin: another installed one (schemathesis's, say) may import them itself.
    result = run_pytest(tmp_path, "-p", "dbharness", PYTEST_DISABLE_PLUGIN_AUTOLOAD="1")
    assert result.returncode == 0, outcome(result)
    assert "dbharness: inactive (no harness_project in the ini file" in result.stdout
    assert "web stack imported: []" in result.stdout, outcome(result)
