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
    """What an interrupt needs: what to clean up, where the run is, whether it has ended."""

    cleanups: list[Callable[[], None]] = field(default_factory=list)
    # The runs configured in this process, outermost first (pytester runs nest inside one).
    runs: list[RunPhases] = field(default_factory=list)
    exit_status: int | None = None  # set once the outermost run has ended and reported

    def describe(self) -> str:
        return self.runs[0].describe() if self.runs else "during start-up"


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


class RunPhases:
    """One run's phase, kept by its own hooks (an inner pytester run has an instance of its own)."""

    def __init__(self) -> None:
        self.phase = "during start-up"
        self.finished_tests = 0
        self.exit_status: int | None = None

    def describe(self) -> str:
        if self.phase == "during the tests":
            return f"during the tests ({self.finished_tests} finished)"
        return self.phase

    @pytest.hookimpl(tryfirst=True)
    def pytest_configure(self) -> None:
        progress.runs.append(self)

    def pytest_sessionstart(self) -> None:
        self.phase = "during collection"

    def pytest_collection_finish(self) -> None:
        self.phase, self.finished_tests = "during the tests", 0

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "teardown":
            self.finished_tests += 1

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, exitstatus: int) -> None:
        self.phase, self.exit_status = "while finishing", int(exitstatus)

    @pytest.hookimpl(trylast=True)
    def pytest_unconfigure(self) -> None:
        if self in progress.runs:
            progress.runs.remove(self)
        if not progress.runs and self.exit_status is not None:
            ended(self.exit_status)  # the outermost run has ended and reported
