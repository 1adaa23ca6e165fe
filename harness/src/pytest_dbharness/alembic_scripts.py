"""Alembic's migration scripts compiled once per process, not once per command.

Alembic loads every revision file of the history, and ``env.py``, again for each command
(``upgrade``, ``downgrade``, ``current``, each ``ScriptDirectory``): the migration checks and any
test that migrates run many commands, and with ``PYTHONDONTWRITEBYTECODE`` set (or a checkout it
cannot write to) no ``.pyc`` is kept, so each load compiles the source again. This project's suite
loaded its history 146 times, about 1 s of a serial run; a history of a hundred revisions,
round-tripped revision by revision, would compile its files tens of thousands of times.

``install()`` has Alembic's file loader (``alembic.util.pyfiles.load_module_py``) keep the compiled
code of each ``.py`` file in memory, keyed as Python keys a ``.pyc`` (path, modification time and
size), so a file that changes is compiled again. Each load still executes the module afresh, into
a new module object, as Alembic expects. Alembic is not imported for it: the loader is wrapped when
something else imports ``alembic.util.pyfiles`` (a run whose schema is cached imports no Alembic).
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys
from collections.abc import Sequence
from types import CodeType, ModuleType
from typing import Any

PYFILES = "alembic.util.pyfiles"
_WRAPPED = "_dbharness_compiled_once"
_CODE: dict[tuple[str, int, int], CodeType] = {}


def compiled(path: str) -> CodeType:
    """The code of the Python file at ``path``, compiled the first time it is seen as it is now."""
    status = os.stat(path)
    key = (path, status.st_mtime_ns, status.st_size)
    code = _CODE.get(key)
    if code is None:
        with open(path, "rb") as source:
            code = _CODE[key] = compile(source.read(), path, "exec", dont_inherit=True)
    return code


def _wrap(pyfiles: ModuleType) -> None:
    original = pyfiles.load_module_py
    if getattr(original, _WRAPPED, False):
        return

    def load_module_py(module_id: str, path: str | os.PathLike[str]) -> ModuleType:
        location = os.fspath(path)
        if not location.endswith(".py"):
            return original(module_id, path)  # type: ignore[no-any-return]
        spec = importlib.util.spec_from_file_location(module_id, location)
        assert spec is not None
        module = importlib.util.module_from_spec(spec)
        exec(compiled(location), module.__dict__)  # noqa: S102 - what the loader's exec_module does
        return module

    setattr(load_module_py, _WRAPPED, True)
    setattr(pyfiles, "load_module_py", load_module_py)  # noqa: B010 - a module's attribute


class _WrapOnImport(importlib.abc.MetaPathFinder):
    """Finds nothing itself: when ``alembic.util.pyfiles`` is found, its loader wraps the module
    once executed. It stays on ``sys.meta_path``: pytester's in-process runs forget the modules
    they imported, and a second copy of Alembic is wrapped in its turn."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != PYFILES:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path, target)
        if spec is None or spec.loader is None:
            return spec
        loader: Any = spec.loader
        execute = loader.exec_module

        def exec_module(module: ModuleType) -> None:
            execute(module)
            _wrap(module)

        loader.exec_module = exec_module
        return spec


def install() -> None:
    """Compile Alembic's scripts once per process, from now on (and now if Alembic is loaded)."""
    if PYFILES in sys.modules:
        _wrap(sys.modules[PYFILES])
    if not any(isinstance(finder, _WrapOnImport) for finder in sys.meta_path):
        sys.meta_path.insert(0, _WrapOnImport())
