"""Ctrl-C and SIGTERM in a pytest run's first moments, before pytest has loaded the harness's plugin.

``pytest_dbharness_early.pth``, which the pytest-dbharness distribution puts in site-packages,
imports this module in a Python process whose command line mentions pytest, and ``install`` sets
a handler only when that process is a pytest run (``pytest``, ``py.test``, ``python -m pytest``):
every other process of the environment (``backend serve``, an xdist worker, a script) keeps
Python's own handling. Until the plugin is imported, nothing of the harness has started, so the
handler writes the harness's one line and exits with pytest's code for an interrupted run;
``pytest_dbharness.interrupts.install`` replaces it with the plugin's handler, which stops what
the run started. A signal ignored by whoever started the run (SIGINT in a background job) stays
ignored.

It is a module of its own, outside the ``pytest_dbharness`` package, because importing that
package costs its imports (FastAPI, SQLAlchemy, Alembic) at the very moment this is meant to cover.
pytest cannot rewrite its asserts (it is imported before pytest starts; it has none):
PYTEST_DONT_REWRITE.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Sequence
from types import FrameType

INTERRUPTED_EXIT_CODE = 2  # pytest.ExitCode.INTERRUPTED
SIGNALS = (signal.SIGINT, signal.SIGTERM)
PYTEST_COMMANDS = frozenset({"pytest", "py.test"})
# Functions of pytest's that mean it has got past loading itself and its plugins: a signal that
# finds the early handler still in place there is in a run without the harness's plugin
# (``-p no:dbharness``), and gets Python's handling.
_PAST_START_UP = frozenset({"pytest_load_initial_conftests", "wrap_session"})
# What each replaced handler was: Python's handling, given back past start-up.
_replaced: dict[int, object] = {}
_installed_in = [os.getpid()]  # the process whose handlers these are (install() sets it again)


def interrupted_line(signum: int, phase: str) -> str:
    """The one line an interrupted run ends with (the plugin's handler writes it too)."""
    name = signal.Signals(signum).name
    return f"interrupted by {name} {phase}: the run stopped, and nothing it started is left running"


def say(line: str, *, flush: bool = True) -> None:
    """Write ``line`` to the terminal from a signal handler, after what is waiting on stdout.

    Straight to the file descriptor: the interrupted code may be inside a write to
    ``sys.stderr``, whose buffer a second write would find locked (a RuntimeError).
    """
    if flush:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
    with contextlib.suppress(OSError):
        os.write(2, f"\n{line}\n".encode(errors="replace"))


def is_pytest_command(argv: Sequence[str], orig_argv: Sequence[str]) -> bool:
    """Whether the command line (``sys.argv`` and ``sys.orig_argv`` as site sets them) runs pytest."""
    if not argv:
        return False
    if argv[0] == "-m":  # python [options] -m pytest ...: argv's tail ends orig_argv
        index = len(orig_argv) - len(argv)
        module = orig_argv[index] if 0 < index < len(orig_argv) else ""
        return module.removeprefix("-m") in PYTEST_COMMANDS
    command = os.path.basename(argv[0]).removesuffix(".exe").removesuffix("-script.py")
    return command in PYTEST_COMMANDS


def install(argv: Sequence[str] | None = None, orig_argv: Sequence[str] | None = None) -> None:
    """Handle SIGINT and SIGTERM in this process if it is a pytest run (once; Python's defaults only)."""
    if not is_pytest_command(
        sys.argv if argv is None else argv, sys.orig_argv if orig_argv is None else orig_argv
    ):
        return
    _installed_in[0] = os.getpid()
    for signum in SIGNALS:
        current = signal.getsignal(signum)
        if current in (signal.SIG_DFL, signal.default_int_handler):
            _replaced[signum] = current
            signal.signal(signum, _interrupted)


def as_the_default_would(signum: int) -> None:
    """End this process as the signal's default action would, for a handler that finds itself in
    a child forked from the run (between fork and exec, where subprocess runs ``preexec_fn``):
    there Python still runs the run's handlers, and the run's clean-up and report are not the
    child's to do."""
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)
    os._exit(128 + signum)  # should the default action not end it (a signal it ignores)


def is_early_handler(handler: object) -> bool:
    return handler is _interrupted


def _interrupted(signum: int, frame: FrameType | None) -> None:
    __tracebackhide__ = True  # pytest's report names the interrupted line, not this one
    if os.getpid() != _installed_in[0]:
        as_the_default_would(signum)  # a child forked before its exec: not this run to speak for
    if _past_start_up(frame):
        _as_python_would(signum, frame)
        return
    say(interrupted_line(signum, "during start-up"))
    os._exit(INTERRUPTED_EXIT_CODE)


def _past_start_up(frame: FrameType | None) -> bool:
    while frame is not None:
        if frame.f_code.co_name in _PAST_START_UP:
            return True
        frame = frame.f_back
    return False


def _as_python_would(signum: int, frame: FrameType | None) -> None:
    """Python's own handling, from now on: KeyboardInterrupt for SIGINT, the default for SIGTERM."""
    __tracebackhide__ = True
    for replaced, handler in _replaced.items():
        if signal.getsignal(replaced) is _interrupted:
            signal.signal(replaced, handler)  # type: ignore[arg-type]
    if _replaced.get(signum) is signal.default_int_handler:
        signal.default_int_handler(signum, frame)  # raises KeyboardInterrupt
    os.kill(os.getpid(), signum)  # the default action: the process ends by the signal
