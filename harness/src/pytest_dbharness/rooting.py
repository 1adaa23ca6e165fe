"""``--pg-ctl PATH`` (with a space) must not decide pytest's rootdir and ini file.

pytest finds its rootdir and ini file before it loads any plugin, entry-point plugins included, so
it does not yet know that ``--pg-ctl`` takes a value: it reads the path after it as a test path,
roots the run in PostgreSQL's bin directory and never reads the project's ``pyproject.toml`` (its
addopts, testpaths, ``harness_project``). Once the plugin is loaded the options parse correctly;
this module then asks pytest's own ``determine_setup`` again with the real test paths and, where
the answer differs, adopts it as pytest would have at the start.

That needs pytest's private Config attributes: they are touched in ``_adopt`` only, and
``harness/tests/test_rooting.py`` fails when a pytest release changes them.
"""

from __future__ import annotations

import copy
import inspect
from pathlib import Path
from typing import Any

import pytest
from _pytest.config.findpaths import determine_setup

# The destinations of the options whose value is an existing path.
PATH_OPTION_DESTS = ("dbharness_pg_ctl",)


def reroot(config: pytest.Config, args: list[str]) -> None:
    """Redo pytest's rootdir/ini choice without the paths that were option values."""
    namespace = config.known_args_namespace
    if not any(getattr(namespace, dest, None) for dest in PATH_OPTION_DESTS):
        return
    rootpath, inipath, inicfg = _setup_for(config, namespace)
    if (rootpath, inipath) == (config.rootpath, config.inipath):
        return
    _adopt(config, args, rootpath, inipath, inicfg)


def _setup_for(config: pytest.Config, namespace: Any) -> tuple[Path, Path | None, Any]:
    known = {
        "inifile": namespace.inifilename,
        "override_ini": getattr(namespace, "override_ini", None),
        "args": namespace.file_or_dir,
        "rootdir_cmd_arg": namespace.rootdir or None,
        "invocation_dir": config.invocation_params.dir,
    }
    accepted = inspect.signature(determine_setup).parameters
    found = determine_setup(**{name: value for name, value in known.items() if name in accepted})
    return found[0], found[1], found[2]


def _adopt(
    config: pytest.Config, args: list[str], rootpath: Path, inipath: Path | None, inicfg: Any
) -> None:
    """What ``Config._preparse`` does with a rootdir and ini file, done again for the right ones."""
    config._rootpath = rootpath
    config._inipath = inipath
    config._inicfg = inicfg
    config._inicache.clear()
    config._parser.extra_info["rootdir"] = str(rootpath)
    config._parser.extra_info["inifile"] = str(inipath)
    addopts = config._validate_args(config.getini("addopts"), "via addopts config")
    args[:] = addopts + args
    config.pluginmanager.consider_preparse(addopts, exclude_only=False)
    config.known_args_namespace = config._parser.parse_known_args(
        args, namespace=copy.copy(config.option)
    )
    if config.known_args_namespace.confcutdir is None:
        config.known_args_namespace.confcutdir = str(inipath.parent if inipath else rootpath)
    configure_python_path = getattr(config, "_configure_python_path", None)
    if configure_python_path is not None:  # pytest >= 9; earlier releases do it in a later hook
        configure_python_path()
