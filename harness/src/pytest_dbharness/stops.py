"""How the harness stops a test: one route, pointing at the line of the test that caused it.

Whatever catches the harness's exception on its way up (the app's error handler, an exception
group, ``asyncio.gather``), the stop is recorded here first and the plugin fails the test with it
after the call (``pytest_runtest_call``). The failure's traceback is one entry: the test's own
frame, at the line it was running when the harness stopped it, so ``--tb=long`` shows that line
and its neighbours, not the plugin, SQLAlchemy or the app.
"""

from __future__ import annotations

import asyncio
import sys
import types
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import pytest


class HarnessStop(Exception):
    """The harness stopped the test; its message says what to do instead.

    An ``Exception``, not pytest's ``Failed`` (a ``BaseException``): raised inside a statement's
    execution, a ``BaseException`` makes SQLAlchemy invalidate the connection.
    """


@dataclass
class Stop:
    message: str
    frame: types.FrameType | None = None
    lineno: int = 0
    # Set by the harness's own tests that expect the stop and go on to check its message.
    acknowledged: bool = False
    # Set when the plugin has failed the test with it (after one of the test's phases).
    reported: bool = False

    @property
    def where(self) -> str:
        if self.frame is None:
            return ""
        return f"{Path(self.frame.f_code.co_filename).name}:{self.lineno}"


class StopBoard:
    """The test running in this process and the stop, if any, the harness recorded for it."""

    def __init__(self) -> None:
        self.item: pytest.Item | None = None
        self.stop: Stop | None = None

    def start(self, item: pytest.Item) -> None:
        self.item, self.stop = item, None

    def finish(self) -> None:
        self.item, self.stop = None, None

    def to_fail_with(self) -> Stop | None:
        """After a phase of the test: the stop to fail it with (not one a test acknowledged, nor
        one it was failed with already)."""
        stop = self.stop
        if stop is None or stop.acknowledged or stop.reported:
            return None
        stop.reported = True
        return stop

    def record(self, message: str) -> Stop:
        """Note the first stop of the current test (later ones follow from it)."""
        if self.stop is None:
            frame, lineno = _test_frame(self.item)
            self.stop = Stop(message, frame, lineno)
        return self.stop

    def acknowledge(self) -> str:
        """For tests of the harness that expect a stop: take it, so the test is not failed."""
        assert self.stop is not None, "the harness did not stop the test"
        self.stop.acknowledged = True
        return self.stop.message


BOARD = StopBoard()


def stop_test(message: str) -> NoReturn:
    """Stop the current test with ``message``, from wherever the harness noticed the problem."""
    raise HarnessStop(BOARD.record(message).message)


def as_failure(stop: Stop) -> BaseException:
    """The exception the plugin fails the test with: the message, at the test's line."""
    where = f" (at {stop.where})" if stop.where else ""
    if stop.frame is None:
        return pytest.fail.Exception(stop.message, pytrace=False)
    error = HarnessStop(f"{stop.message}{where}")
    return error.with_traceback(
        types.TracebackType(None, stop.frame, max(stop.frame.f_lasti, 0), stop.lineno)
    )


def _test_frame(item: pytest.Item | None) -> tuple[types.FrameType | None, int]:
    """The innermost frame in the test's file that is running now, and its line.

    First the current stack; then, for a stop inside SQLAlchemy's greenlet or in a task of its own
    (a request sent with ``asyncio.gather``), the chains of awaits of every task of the loop.
    """
    if item is None:
        return None, 0
    path = str(item.path)
    found = _innermost_in(_stack(), path)
    if found is None:
        try:
            tasks = asyncio.all_tasks()
        except RuntimeError:  # no running loop: a synchronous test
            tasks = set()
        for task in tasks:
            found = _innermost_in(_awaiting(task.get_coro()), path)
            if found is not None:
                break
    return (found, found.f_lineno or 0) if found is not None else (None, 0)


def _innermost_in(frames: Iterator[types.FrameType], path: str) -> types.FrameType | None:
    innermost = None
    for frame in frames:
        if frame.f_code.co_filename == path:
            innermost = frame
    return innermost


def _stack() -> Iterator[types.FrameType]:
    """The current stack, outermost first."""
    frames = []
    frame: types.FrameType | None = sys._getframe(1)
    while frame is not None:
        frames.append(frame)
        frame = frame.f_back
    return reversed(frames)


def _awaiting(awaitable: Any) -> Iterator[types.FrameType]:
    """The frames of a suspended coroutine and of what it awaits, outermost first."""
    while awaitable is not None:
        frame = getattr(awaitable, "cr_frame", None) or getattr(awaitable, "gi_frame", None)
        if frame is not None:
            yield frame
        awaitable = getattr(awaitable, "cr_await", None) or getattr(awaitable, "gi_yieldfrom", None)


# Set by the plugin when a test's call failed: a problem found at its teardown is then reported as
# a warning of that test rather than a second failure of it.
call_failed_key = pytest.StashKey[bool]()


def report_teardown_problem(item: pytest.Item, problem: str) -> None:
    """Fail this test (only this one) at teardown with ``problem``, or warn when it failed already."""
    if item.stash.get(call_failed_key, False):
        warnings.warn(pytest.PytestWarning(problem), stacklevel=1)
        return
    pytest.fail(problem, pytrace=False)
