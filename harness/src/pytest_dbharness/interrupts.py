"""Ctrl-C and SIGTERM end a run at any moment: one line, exit code 2, nothing it started left running.

Raised as ``KeyboardInterrupt`` wherever the run happened to be, an interrupt unwound through the
event loop, SQLAlchemy and the fixtures' teardown: 180 lines of tracebacks mid-run, an internal
error at start-up, and once in eight tries a launched server still running after the run had
exited. So the handler does not unwind: it stops what the run started (the registered cleanups:
the harness's server and run directory, and every process naming that directory), writes pytest's
end-of-run report for the tests that finished once the session has begun (interrupted_report.py:
the summary, ``--junitxml``, the last-failed cache; not the fixtures' teardown), then one line,
and exits with pytest's code for an interrupted run (2).

Installed when the plugin is imported, before its heavy imports. Before that, in pytest's own
start-up, the handler that ``pytest_dbharness_early.pth`` installs in pytest runs writes the same
line and exits 2 (nothing has been started yet); ``install`` replaces it. A SIGINT ignored by the
shell that started the run (a background job) stays ignored.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import FrameType

import pytest
import pytest_dbharness_early as early

from pytest_dbharness.interrupted_report import write_report

INTERRUPTED_EXIT_CODE = early.INTERRUPTED_EXIT_CODE
_SIGNALS = early.SIGNALS
# How long the report may take before the run exits without the rest of it.
REPORT_SECONDS = 10.0


@dataclass
class RunProgress:
    """What an interrupt needs: what to clean up, where the run is, whether it has ended."""

    cleanups: list[Callable[[], None]] = field(default_factory=list)
    # The runs configured in this process, outermost first (pytester runs nest inside one).
    runs: list[RunPhases] = field(default_factory=list)
    # The outermost run before its pytest_configure: pytest already captures fd 1 and 2 while it
    # imports the conftests, and the one line must not go to that capture (lost at the exit).
    starting: RunPhases | None = None
    exit_status: int | None = None  # set once the outermost run has ended and reported
    pid: int = field(default_factory=os.getpid)  # the process whose handlers these are

    def describe(self) -> str:
        return self.runs[0].describe() if self.runs else "during start-up"


progress = RunProgress()


def install() -> None:
    """Handle SIGINT and SIGTERM in this process (once; a handler someone else set is kept, but
    the early one, for pytest's start-up, is replaced)."""
    progress.pid = os.getpid()
    for signum in _SIGNALS:
        current = signal.getsignal(signum)
        if current in (signal.SIG_DFL, signal.default_int_handler, None) or (
            early.is_early_handler(current)
        ):
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
    if os.getpid() != progress.pid:
        early.as_the_default_would(signum)  # a forked child, before its exec: not the run
    if progress.exit_status is not None:  # too late to interrupt anything: the run is over
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(progress.exit_status)
    for other in _SIGNALS:
        with contextlib.suppress(ValueError, OSError):
            signal.signal(other, _interrupted_again)
    outermost = progress.runs[0] if progress.runs else progress.starting
    if outermost is not None:
        with contextlib.suppress(BaseException):
            outermost.release_terminal()
    for cleanup in reversed(progress.cleanups):
        with contextlib.suppress(BaseException):
            cleanup()
    line = early.interrupted_line(signum, progress.describe())
    if progress.runs:
        for other in _SIGNALS:  # stopped: another signal only cuts the report short
            with contextlib.suppress(ValueError, OSError):
                signal.signal(other, lambda _signum, _frame: _exit_saying(line))
        _report(progress.runs[0], line)
    _say(line)
    os._exit(INTERRUPTED_EXIT_CODE)


def _report(run: RunPhases, line: str) -> None:
    """The run's report, after the cleanups: a report that fails or hangs cannot leave anything."""
    watchdog = threading.Timer(REPORT_SECONDS, _exit_saying, (line,))
    watchdog.daemon = True
    watchdog.start()
    with contextlib.suppress(BaseException):
        run.report()
    watchdog.cancel()


def _exit_saying(line: str) -> None:
    _say(line, flush=False)  # the watchdog's thread: the main one may hold the stream's lock
    os._exit(INTERRUPTED_EXIT_CODE)


def _interrupted_again(signum: int, _frame: FrameType | None) -> None:
    """A second signal while cleaning up (one that hangs, say) exits at once."""
    _say(
        f"interrupted again by {signal.Signals(signum).name} while stopping: exiting now; the "
        "next run removes what this one left"
    )
    os._exit(INTERRUPTED_EXIT_CODE)


def _say(line: str, *, flush: bool = True) -> None:
    # xdist workers get the terminal's Ctrl-C too; the controller speaks for the run.
    if "PYTEST_XDIST_WORKER" not in os.environ:
        early.say(line, flush=flush)


# Where the run is, and when it ended: hooks the plugin registers (RunPhases) in every run.


class RunPhases:
    """One run's phase, kept by its own hooks (an inner pytester run has an instance of its own)."""

    def __init__(self) -> None:
        self.phase = "during start-up"
        self.finished_tests = 0
        self.exit_status: int | None = None
        self.config: pytest.Config | None = None
        self.session: pytest.Session | None = None
        self.summarized = False  # pytest has begun its own terminal summary

    def release_terminal(self) -> None:
        """What is written from now on goes to the terminal, not to a test's captured output."""
        capture = self.config.pluginmanager.getplugin("capturemanager") if self.config else None
        if capture is not None:
            capture.suspend_global_capture(in_=True)

    def report(self) -> None:
        """pytest's end-of-run report so far, once the session has begun (the controller's only)."""
        if self.session is None or self.summarized or "PYTEST_XDIST_WORKER" in os.environ:
            return
        write_report(self.session)

    def describe(self) -> str:
        if self.phase == "during the tests":
            return f"during the tests ({self.finished_tests} finished)"
        return self.phase

    def pytest_load_initial_conftests(self, early_config: pytest.Config) -> None:
        # pytest's capture has begun (its hook wraps this one): from here on a signal must
        # release the terminal before it speaks. An inner run's outer run already does.
        self.config = early_config
        if not progress.runs:
            progress.starting = self

    @pytest.hookimpl(tryfirst=True)
    def pytest_configure(self, config: pytest.Config) -> None:
        self.config = config
        progress.runs.append(self)

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        self.phase, self.session = "during collection", session

    def pytest_collection_finish(self) -> None:
        self.phase, self.finished_tests = "during the tests", 0

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if self.phase == "during collection":  # xdist's controller collects nothing itself
            self.phase = "during the tests"
        if report.when == "teardown":
            self.finished_tests += 1

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_terminal_summary(self) -> Iterator[None]:
        self.summarized = True
        return (yield)

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, exitstatus: int) -> None:
        self.phase, self.exit_status = "while finishing", int(exitstatus)

    @pytest.hookimpl(trylast=True)
    def pytest_unconfigure(self) -> None:
        if self in progress.runs:
            progress.runs.remove(self)
        if not progress.runs and self.exit_status is not None:
            ended(self.exit_status)  # the outermost run has ended and reported
