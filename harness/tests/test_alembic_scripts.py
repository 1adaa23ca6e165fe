"""Alembic's scripts are compiled once per process (``alembic_scripts.py``): every command loads
the whole history again, and without a kept ``.pyc`` each load compiled every file anew."""

from __future__ import annotations

import os
from pathlib import Path

from alembic.util import load_python_file
from pytest_dbharness import alembic_scripts

REVISION = """revision = "{revision}"
down_revision = None


def upgrade():
    return "{says}"
"""


def test_a_script_loaded_again_reuses_its_compiled_code_in_a_fresh_module(tmp_path: Path) -> None:
    alembic_scripts.install()
    (tmp_path / "a1_first.py").write_text(REVISION.format(revision="a1", says="first"))
    first = load_python_file(tmp_path, "a1_first.py")
    again = load_python_file(tmp_path, "a1_first.py")
    assert again is not first, "each load is a module of its own, as Alembic expects"
    assert again.upgrade.__code__ is first.upgrade.__code__, "compiled again"
    assert again.upgrade() == "first"


def test_a_script_that_changes_is_compiled_again(tmp_path: Path) -> None:
    alembic_scripts.install()
    script = tmp_path / "b2_changing.py"
    script.write_text(REVISION.format(revision="b2", says="before"))
    before = load_python_file(tmp_path, script.name)
    # The same size and the same second: only the nanoseconds of its modification time differ.
    script.write_text(REVISION.format(revision="b2", says="after!"))
    status = script.stat()
    os.utime(script, ns=(status.st_atime_ns, status.st_mtime_ns + 1))
    after = load_python_file(tmp_path, script.name)
    assert (before.upgrade(), after.upgrade()) == ("before", "after!")
