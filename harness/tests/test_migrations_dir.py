"""``Project(migrations_dir=…)``: a run whose schema is cached starts without importing Alembic, and a
folder that is not the one ``alembic_config()`` names stops the run saying so."""

from __future__ import annotations

from pathlib import Path

from runs import copy_of_sample, outcome, run_pytest

# What the copy's conftest prints at the end of a run: whether anything imported Alembic.
REPORT = """import sys


def pytest_terminal_summary(terminalreporter):
    terminalreporter.write_line(f"alembic imported: {'alembic' in sys.modules}")
"""


def _replace(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{path} no longer holds {old!r}"
    path.write_text(text.replace(old, new))


def _with_migrations_dir(tmp_path: Path, folder: str) -> Path:
    """A copy of the second project that names ``folder`` as its migrations and imports Alembic
    only inside ``alembic_config``, as the docs say to."""
    project = copy_of_sample(tmp_path)
    testing = project / "notes/testing.py"
    _replace(testing, "from alembic.config import Config\n", "")
    _replace(
        testing,
        "    config = Config(",
        "    from alembic.config import Config\n\n    config = Config(",
    )
    _replace(testing, "-> Config:", '-> "Config":')
    _replace(testing, "    drivers=", f'    migrations_dir=HERE / "{folder}",\n    drivers=')
    (project / "tests/conftest.py").write_text(REPORT)
    return project


def test_a_run_whose_schema_is_cached_never_imports_alembic(tmp_path: Path) -> None:
    project = _with_migrations_dir(tmp_path, "alembic")
    # pytest-alembic's plugin (installed here) imports Alembic in every run: the docs say to turn
    # it off. The first run may build the schema (and import Alembic to migrate); the second finds
    # it cached.
    args = ("-p", "no:pytest_alembic", "-k", "round_trips")
    first = run_pytest(project, *args)
    assert first.returncode == 0, outcome(first)
    second = run_pytest(project, *args)
    assert second.returncode == 0, outcome(second)
    assert "alembic imported: False" in second.stdout, outcome(second)
    # The same run with the plugin on, as a project that did not follow the docs would have it.
    with_plugin = run_pytest(project, "-k", "round_trips")
    assert "alembic imported: True" in with_plugin.stdout, outcome(with_plugin)


def test_a_migrations_dir_that_is_not_alembics_folder_stops_the_run_naming_both(
    tmp_path: Path,
) -> None:
    project = _with_migrations_dir(tmp_path, "old_migrations")
    (project / "old_migrations").mkdir()
    result = run_pytest(project, "-k", "round_trips")
    assert result.returncode != 0, outcome(result)
    text = outcome(result)
    assert "is not the folder alembic_config() migrates from" in text, text
    assert "old_migrations" in text and str((project / "alembic").resolve()) in text, text
    assert "Traceback" not in text
