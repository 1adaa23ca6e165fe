"""Ctrl-C and SIGTERM end a run at any moment: one line, exit code 2, nothing it started left running.

Raised as ``KeyboardInterrupt`` wherever the run happened to be, an interrupt unwound through the
event loop, SQLAlchemy and the fixtures' teardown: 180 lines of tracebacks mid-run, an internal
error at start-up, and once in eight tries a launched server still running after the run had
exited. So the handler does not unwind: it stops what the run started (the registered cleanups:
the harness's server and run directory, and every process naming that directory), writes one line
and exits with pytest's code for an interrupted run (2). pytest's end-of-run report is not written.

Installed when the plugin is imported, before its heavy imports: a signal in the first moments of
pytest's own start-up, before it loads the plugin, is pytest's and Python's (SIGTERM then ends the
process silently, with nothing started to leave behind). A SIGINT ignored by the shell that
started the run (a background job) stays ignored.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from types import FrameType

import pytest

INTERRUPTED_EXIT_CODE = 2  # pytest.ExitCode.INTERRUPTED
_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@dataclass
class RunProgress:
    """Where the run is, for the one line an interrupt writes."""

    phase: str = "during start-up"
    finished_tests: int = 0
    exit_status: int | None = None  # set once the run has ended and reported
    runs: int = 0  # configured runs in this process (pytester runs nest inside the outer one)
    cleanups: list[Callable[[], None]] = field(default_factory=list)

    def describe(self) -> str:
        if self.phase == "during the tests":
            return f"during the tests ({self.finished_tests} finished)"
        return self.phase


progress = RunProgress()


def install() -> None:
    """Handle SIGINT and SIGTERM in this process (once; a handler someone else set is kept)."""
    for signum in _SIGNALS:
        current = signal.getsignal(signum)
        if current in (signal.SIG_DFL, signal.default_int_handler, None):
            signal.signal(signum, _interrupted)
    # Python gives signals back their default action late in its shutdown, where one would end a
    # run that has already reported with a signal's exit status: held off from here on.
    atexit.register(_hold_signals)


def ended(exit_status: int) -> None:
    """The run has ended and reported: a signal from now on exits with its status, silently."""
    progress.exit_status = exit_status


def _hold_signals() -> None:
    with contextlib.suppress(ValueError, OSError, AttributeError):
        signal.pthread_sigmask(signal.SIG_BLOCK, set(_SIGNALS))


def on_interrupt(cleanup: Callable[[], None]) -> Callable[[], None]:
    """Run ``cleanup`` if the run is interrupted; returns the function that unregisters it."""
    progress.cleanups.append(cleanup)
    return lambda: progress.cleanups.remove(cleanup) if cleanup in progress.cleanups else None


def _interrupted(signum: int, _frame: FrameType | None) -> None:
    if progress.exit_status is not None:  # too late to interrupt anything: the run is over
        with contextlib.suppress(OSError, ValueError):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(progress.exit_status)
    for other in _SIGNALS:
        with contextlib.suppress(ValueError, OSError):
            signal.signal(other, _interrupted_again)
    for cleanup in reversed(progress.cleanups):
        with contextlib.suppress(BaseException):
            cleanup()
    _say(
        f"interrupted by {signal.Signals(signum).name} {progress.describe()}: the run stopped, "
        "and nothing it started is left running"
    )
    os._exit(INTERRUPTED_EXIT_CODE)


def _interrupted_again(signum: int, _frame: FrameType | None) -> None:
    """A second signal while cleaning up (one that hangs, say) exits at once."""
    _say(
        f"interrupted again by {signal.Signals(signum).name} while stopping: exiting now; the "
        "next run removes what this one left"
    )
    os._exit(INTERRUPTED_EXIT_CODE)


def _say(line: str) -> None:
    # xdist workers get the terminal's Ctrl-C too; the controller speaks for the run.
    if "PYTEST_XDIST_WORKER" in os.environ:
        return
    with contextlib.suppress(OSError, ValueError):
        sys.stdout.flush()
        sys.stderr.write(f"\n{line}\n")
        sys.stderr.flush()


# Where the run is, and when it ended: hooks the plugin registers (RunPhases) in every run.

_exit_status_key = pytest.StashKey[int]()


class RunPhases:
    @staticmethod
    @pytest.hookimpl(tryfirst=True)
    def pytest_configure() -> None:
        progress.runs += 1
        progress.phase = "during start-up"

    @staticmethod
    def pytest_sessionstart() -> None:
        progress.phase = "during collection"

    @staticmethod
    def pytest_collection_finish() -> None:
        progress.phase, progress.finished_tests = "during the tests", 0

    @staticmethod
    def pytest_runtest_logreport(report: pytest.TestReport) -> None:
        if report.when == "teardown":
            progress.finished_tests += 1

    @staticmethod
    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
        progress.phase = "while finishing"
        session.config.stash[_exit_status_key] = int(exitstatus)

    @staticmethod
    @pytest.hookimpl(trylast=True)
    def pytest_unconfigure(config: pytest.Config) -> None:
        progress.runs -= 1
        if progress.runs == 0 and _exit_status_key in config.stash:
            # The outermost run (not a pytester run inside it) has ended and reported.
            ended(config.stash[_exit_status_key])
