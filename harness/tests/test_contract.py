"""Each point of the contract a project must meet, unmet on purpose: one message that says what to
change, never a traceback, a hang, or a silent leak."""

from __future__ import annotations

from pathlib import Path

import pytest
from runs import (
    SAMPLE_PROJECT,
    SAMPLE_TESTS,
    copy_of_sample,
    env_py_ignoring_the_connection,
    outcome,
    replace_in,
    run_pytest,
)

ENGINES = ["sqlite", "postgres"]


def test_a_project_without_a_session_dependency_is_told_which_to_give(tmp_path: Path) -> None:
    project = copy_of_sample(tmp_path)
    replace_in(project / "notes/testing.py", "    session_dependency=get_session,\n", "")
    result = run_pytest(project)
    assert result.returncode == 4, outcome(result)  # pytest's usage error
    assert "give exactly one of sessionmaker_dependency=" in outcome(result), outcome(result)
    assert "Traceback" not in outcome(result)


@pytest.mark.parametrize(
    ("named", "told"),
    [
        ("notes.testing:PROJCT", "the module notes.testing has no 'PROJCT'; it defines PROJECT"),
        (
            "notes.testin:PROJECT",
            "is the package importable from the rootdir? (pytest's ini option",
        ),
    ],
    ids=["misspelt attribute", "misspelt module"],
)
def test_a_harness_project_that_names_nothing_says_which_part_is_wrong(
    named: str, told: str
) -> None:
    result = run_pytest(SAMPLE_PROJECT, "-o", f"harness_project={named}")
    assert result.returncode == 4, outcome(result)
    assert told in outcome(result), outcome(result)
    assert "Traceback" not in outcome(result)


def test_a_project_module_that_fails_to_import_says_so_not_where_to_look(tmp_path: Path) -> None:
    project = copy_of_sample(tmp_path)
    replace_in(
        project / "notes/testing.py",
        "from pathlib import Path\n",
        "from pathlib import Path\n\nimport a_driver_nobody_installed\n",
    )
    result = run_pytest(project)
    assert result.returncode == 4, outcome(result)
    assert "No module named 'a_driver_nobody_installed'" in outcome(result), outcome(result)
    assert "importing notes.testing failed: fix that import first" in outcome(result)
    assert "pythonpath" not in outcome(result)


def test_a_lifespan_that_fails_at_startup_says_so_and_how_to_go_without_it(
    tmp_path: Path,
) -> None:
    project = copy_of_sample(tmp_path)
    replace_in(
        project / "notes/app.py",
        '        yield {"served_by": "notes"}\n',
        '        raise ConnectionError("no cache server here")\n        yield {}\n',
    )
    result = run_pytest(project)
    assert result.returncode == pytest.ExitCode.TESTS_FAILED, outcome(result)
    told = "the app's lifespan failed at startup (ConnectionError: no cache server here)"
    assert told in outcome(result), outcome(result)
    assert "run_lifespan=False" in outcome(result)
    replace_in(
        project / "notes/testing.py",
        "PROJECT = Project(\n",
        "PROJECT = Project(\n    run_lifespan=False,\n",
    )
    without = run_pytest(project, "-k", "not lifespan")
    assert without.returncode == 0, outcome(without)
    assert f"{SAMPLE_TESTS - 1} passed" in without.stdout, outcome(without)
    # The one test that reads what the lifespan yields finds nothing: it was not run.
    assert run_pytest(project, "-k", "lifespan").returncode == pytest.ExitCode.TESTS_FAILED


def test_an_engine_factory_without_options_is_told_to_accept_them(tmp_path: Path) -> None:
    project = copy_of_sample(tmp_path)
    replace_in(
        project / "notes/db.py",
        "def make_engine(url: str, **options: Any)",
        "def make_engine(url: str)",
    )
    replace_in(
        project / "notes/db.py", "create_async_engine(url, **options)", "create_async_engine(url)"
    )
    result = run_pytest(project)
    assert result.returncode == 4, outcome(result)
    assert "must accept keyword options" in outcome(result), outcome(result)


@pytest.mark.parametrize("engine", ENGINES)
def test_an_env_py_that_ignores_the_harness_connection_is_stopped_at_once(
    tmp_path: Path, engine: str
) -> None:
    project = copy_of_sample(tmp_path)
    # Alembic's async template as it comes: it always connects by itself, here to a server that
    # would never answer (the harness must stop it before it tries).
    env_py_ignoring_the_connection(project)
    replace_in(
        project / "alembic.ini",
        "sqlite+aiosqlite:///./notes.sqlite3",
        "postgresql+asyncpg://nobody@192.0.2.1:5432/unreachable",
    )
    result = run_pytest(project, "--db", engine, "-k", "round_trips", timeout=60)
    assert result.returncode != 0, outcome(result)
    assert 'config.attributes.get("connection")' in outcome(result), outcome(result)
    assert "TimeoutError" not in outcome(result)


def test_an_engine_that_autocommits_stops_the_run_before_tests_leak(tmp_path: Path) -> None:
    # PostgreSQL: on SQLite the harness begins every transaction itself (the savepoint
    # workaround), so such an engine still isolates there (the second project's own suite
    # shows that an engine factory without the workaround isolates).
    engine = "postgres"
    project = copy_of_sample(tmp_path)
    replace_in(
        project / "notes/db.py",
        "create_async_engine(url, **options)",
        'create_async_engine(url, **{"isolation_level": "AUTOCOMMIT", **options})',
    )
    result = run_pytest(project, "--db", engine)
    assert result.returncode != 0, outcome(result)
    assert "does not really begin transactions" in outcome(result), outcome(result)
    assert "Interrupted" in outcome(result), outcome(result)
    # Said once, and the worker's connection closed: no chained copy, no collector's complaint.
    assert "During handling of the above exception" not in outcome(result), outcome(result)
    assert "garbage collector" not in outcome(result), outcome(result)


def test_an_unknown_clock_setting_stops_the_run_naming_the_choices() -> None:
    result = run_pytest(SAMPLE_PROJECT, "-o", "harness_transaction_clock=quiet")
    assert result.returncode == 4, outcome(result)  # pytest's usage error
    told = "harness_transaction_clock = 'quiet' in the pytest ini: choose one of report, stop, off"
    assert told in outcome(result), outcome(result)
    assert "Traceback" not in outcome(result)


@pytest.mark.parametrize(
    ("drivers", "told"),
    [
        (
            '{"postgresql": "asyncpg_not_installed"}',
            "the app's driver for postgresql is 'asyncpg_not_installed' (Project drivers=), which "
            "SQLAlchemy does not know",
        ),
        (
            # A driver SQLAlchemy knows that this environment lacks (asyncpg, in a project that
            # forgot to depend on it).
            '{"postgresql": "pg8000"}',
            "the app's driver for postgresql is 'pg8000' (Project drivers=), and it is not "
            "installed (No module named 'pg8000'): add it to the project's dependencies",
        ),
        (
            '{"postgres": "asyncpg"}',
            "drivers= names 'postgres', which SQLAlchemy does not call a dialect",
        ),
    ],
    ids=["unknown driver", "driver not installed", "misspelt dialect"],
)
def test_a_driver_the_run_cannot_use_stops_it_naming_the_setting(
    tmp_path: Path, drivers: str, told: str
) -> None:
    project = copy_of_sample(tmp_path)
    replace_in(project / "notes/testing.py", '{"postgresql": "asyncpg"}', drivers)
    result = run_pytest(project, "--db", "postgres")
    assert result.returncode == 4, outcome(result)  # pytest's usage error, before any server
    assert told in outcome(result), outcome(result)
    assert "Traceback" not in outcome(result)


@pytest.mark.parametrize(
    ("broken", "told"),
    [
        ("PROJECT = Project(\n", "raised SyntaxError"),
        ("PROJECT = Project(\n", "raised RuntimeError: no settings here"),
    ],
    ids=["syntax error", "raises at import"],
)
def test_a_project_module_whose_own_code_fails_says_so_and_where(
    tmp_path: Path, broken: str, told: str
) -> None:
    project = copy_of_sample(tmp_path)
    insert = "def (:\n" if "Syntax" in told else 'raise RuntimeError("no settings here")\n'
    replace_in(project / "notes/testing.py", broken, insert + broken)
    result = run_pytest(project)
    assert result.returncode == 4, outcome(result)
    assert told in outcome(result), outcome(result)
    assert "testing.py:" in outcome(result)
    assert "INTERNALERROR" not in outcome(result)


def test_a_harness_project_without_the_colon_says_how_to_write_it() -> None:
    result = run_pytest(SAMPLE_PROJECT, "-o", "harness_project=notes.testing")
    assert result.returncode == 4, outcome(result)
    assert 'names a module but not the Project in it: write it as "notes.testing:PROJECT"' in (
        outcome(result)
    ), outcome(result)


def test_an_env_py_connecting_to_the_developers_database_is_told_about_env_py(
    tmp_path: Path,
) -> None:
    # The usual set-up: a synchronous env.py (Alembic's generic template) whose URL is the app's
    # default database, which the harness also refuses to tests; the message must be about
    # env.py, not about a test.
    project = copy_of_sample(tmp_path)
    env_py_ignoring_the_connection(project)
    replace_in(
        project / "alembic/env.py",
        "    asyncio.run(run_async_migrations())\n",
        "    from sqlalchemy import create_engine\n\n"
        '    with create_engine("sqlite:///./notes.sqlite3").connect() as connection:\n'
        "        do_run_migrations(connection)\n",
    )
    replace_in(
        project / "notes/testing.py",
        "PROJECT = Project(\n",
        'PROJECT = Project(\n    configured_database_url=lambda: "sqlite+aiosqlite:///./notes.sqlite3",\n',
    )
    result = run_pytest(project, "-k", "round_trips", timeout=60)
    assert result.returncode != 0, outcome(result)
    assert "alembic's env.py opened a connection of its own" in outcome(result), outcome(result)
    assert "a test tried to connect" not in outcome(result)
    assert not (project / "notes.sqlite3").exists()


def test_an_endpoint_that_leaves_its_writes_to_the_dependency_is_told_which_setting(
    tmp_path: Path,
) -> None:
    # The endpoint only flushes: the app's own dependency would commit after it. Without
    # session_dependency_commits=True the harness's override only closes the session.
    project = copy_of_sample(tmp_path)
    replace_in(
        project / "notes/app.py",
        "            await session.commit()\n        except Integ",
        "            await session.flush()\n        except Integ",
    )
    result = run_pytest(project, "-k", "round_trips")
    assert result.returncode == pytest.ExitCode.TESTS_FAILED, outcome(result)
    told = "a request returned with writes its session never committed (flushed writes)"
    assert told in result.stdout, outcome(result)
    assert "session_dependency_commits=True" in result.stdout
    replace_in(
        project / "notes/testing.py",
        "PROJECT = Project(\n",
        "PROJECT = Project(\n    session_dependency_commits=True,\n",
    )
    committing = run_pytest(project, "-k", "round_trips")
    assert committing.returncode == 0, outcome(committing)


FAILING_REVISION = '''"""A revision that fails half-way."""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("UPDATE no_such_table SET x = 1")


def downgrade() -> None:
    pass
'''


@pytest.mark.parametrize("engine", ENGINES)
def test_migrations_that_fail_stop_the_run_with_one_message(tmp_path: Path, engine: str) -> None:
    project = copy_of_sample(tmp_path)
    (project / "alembic/versions/0002_fails.py").write_text(FAILING_REVISION)
    result = run_pytest(project, "--db", engine)
    assert result.returncode == pytest.ExitCode.INTERRUPTED, outcome(result)
    dialect = "sqlite" if engine == "sqlite" else "postgresql"
    assert f"the migrations failed on {dialect} at revision 0002 (A revision that fails" in (
        result.stdout
    ), outcome(result)
    assert "Interrupted: the migrated schema could not be built (the error above)" in result.stdout
    assert result.stdout.count("ERROR at setup of") == 1, outcome(result)
    # The header says it once, on the schema's line (it used to add a second one above it).
    assert result.stdout.count("database schema: ") == 1, outcome(result)
    assert "database schema: NOT BUILT (cache " in result.stdout, outcome(result)


BROKEN_REVISIONS = {
    "a syntax error": (
        'revision = "0002"\ndown_revision = "0001"\n\ndef upgrade(:\n    pass\n',
        "failed on sqlite in 0002_broken.py: SyntaxError: invalid syntax (0002_broken.py, line 4)",
    ),
    "a parent that is missing": (
        'revision = "0002"\ndown_revision = "9999"\n\ndef upgrade():\n    pass\n',
        "failed on sqlite: a revision's down_revision is '9999', and no revision file in the "
        "history has that id",
    ),
    "no revision id": (
        "def upgrade():\n    pass\n",
        "failed on sqlite: Could not determine revision id from filename 0002_broken.py",
    ),
    "an error in its Python": (
        'revision = "0002"\ndown_revision = "0001"\n\ndef upgrade():\n    undefined_helper()\n',
        "failed on sqlite at revision 0002: NameError: name 'undefined_helper' is not defined",
    ),
    "a call to sys.exit": (
        'import sys\n\nrevision = "0002"\ndown_revision = "0001"\n\ndef upgrade():\n'
        "    sys.exit(3)\n",
        "failed on sqlite at revision 0002: a revision called sys.exit(3)",
    ),
}


@pytest.mark.parametrize("broken", BROKEN_REVISIONS.values(), ids=BROKEN_REVISIONS.keys())
def test_a_revision_alembic_cannot_run_stops_the_run_saying_what_is_wrong(
    tmp_path: Path, broken: tuple[str, str]
) -> None:
    # Each of these was an INTERNALERROR: describing the failure loaded the history again (or
    # let SystemExit through), and that raised in turn.
    source, told = broken
    project = copy_of_sample(tmp_path)
    (project / "alembic/versions/0002_broken.py").write_text(source)
    result = run_pytest(project)
    assert result.returncode == pytest.ExitCode.INTERRUPTED, outcome(result)
    assert f"the migrations {told}" in result.stdout, outcome(result)
    assert "INTERNALERROR" not in outcome(result), outcome(result)


def test_a_failing_revision_without_a_docstring_is_named_by_its_id(tmp_path: Path) -> None:
    # Naming the revision read its docstring's first line: a file without one (hand-written, or
    # made with an empty message) turned the migration's error into an INTERNALERROR.
    project = copy_of_sample(tmp_path)
    without_docstring = FAILING_REVISION.replace('"""A revision that fails half-way."""\n', "")
    (project / "alembic/versions/0002_fails.py").write_text(without_docstring)
    result = run_pytest(project)
    assert result.returncode == pytest.ExitCode.INTERRUPTED, outcome(result)
    assert "the migrations failed on sqlite at revision 0002: no such table" in result.stdout
    assert "INTERNALERROR" not in outcome(result), outcome(result)


def test_two_unmerged_heads_are_named_with_the_merge_to_run(tmp_path: Path) -> None:
    # Two branches that each added a revision on 0001: Alembic's own error says to pick a target;
    # the harness names the heads and the command that joins them (on SQLite: no engine involved).
    project = copy_of_sample(tmp_path)
    for head in ("0002a", "0002b"):
        revision = FAILING_REVISION.replace('"0002"', f'"{head}"').replace(
            'op.execute("UPDATE no_such_table SET x = 1")', "pass"
        )
        (project / f"alembic/versions/{head}_branch.py").write_text(revision)
    result = run_pytest(project)
    assert result.returncode == pytest.ExitCode.INTERRUPTED, outcome(result)
    assert "the migrations have 2 heads (" in result.stdout, outcome(result)
    assert "`alembic merge -m 'merge heads' 0002" in result.stdout, outcome(result)


def test_a_misspelt_harness_key_stops_the_run_naming_the_right_one(tmp_path: Path) -> None:
    # The plugin stayed inactive, and each of the suite's tests failed on its own.
    project = copy_of_sample(tmp_path)
    replace_in(project / "pyproject.toml", "harness_project =", "harness_projekt =")
    result = run_pytest(project)
    assert result.returncode == pytest.ExitCode.USAGE_ERROR, outcome(result)
    assert "did you mean 'harness_project' (pytest-dbharness)?" in result.stderr, outcome(result)
    assert "error" not in result.stdout.lower(), outcome(result)
