"""The engine registry is the one place engine names are spelt; everything else agrees with it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from pytest_dbharness.backends import ENGINES, engine_for_dialect, only_marker

ROOT = Path(__file__).resolve().parents[3]


def _noxfile_engines() -> tuple[str, ...]:
    tree = ast.parse((ROOT / "noxfile.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == "ENGINES" for target in node.targets
        ):
            return tuple(ast.literal_eval(node.value))
    raise AssertionError("noxfile.py has no ENGINES constant")


def test_the_noxfile_runs_the_migration_checks_on_every_registered_engine() -> None:
    assert set(_noxfile_engines()) == set(ENGINES)


@pytest.mark.parametrize("name", list(ENGINES))
def test_every_engine_has_its_only_marker_registered(
    name: str, pytestconfig: pytest.Config
) -> None:
    registered = [line.split("(")[0] for line in pytestconfig.getini("markers")]
    assert only_marker(name) in registered


@pytest.mark.parametrize("name", list(ENGINES))
def test_a_dialect_name_leads_back_to_its_engine(name: str) -> None:
    assert engine_for_dialect(ENGINES[name].dialect) == name
