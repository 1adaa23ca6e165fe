"""What an interrupted run still reports: pytest's summary of the tests so far, ``--junitxml`` and
the last-failed cache (so ``pytest --lf`` reruns what had failed), as pytest does on Ctrl-C.

pytest writes these in ``pytest_sessionfinish``, and the same hook tears the fixtures down. That
teardown runs through the event loop, on connections to a server the interrupt has just stopped,
and an interrupt unwinding through it is what printed 180 lines of tracebacks. So, after the
cleanups, the interrupt handler writes the report from its parts: the terminal summary hook
(pytest's own sections: failures, the short summary, then every plugin's summary) and the
statistics line, the JUnit XML file and the cache, and no other ``pytest_sessionfinish`` work.

It reaches into two pieces of pytest that are not public API, each in one place here: the JUnit
XML plugin's stash key and the terminal writer's file (the summary is written to a buffer first,
then straight to the file descriptor: the interrupted code may be inside a write to the same
stream). ``backend/tests/harness/test_interrupts_early.py`` fails if either changes.
"""

from __future__ import annotations

import contextlib
import io
import os
from typing import TextIO

import pytest
from _pytest.junitxml import xml_key


def write_report(session: pytest.Session) -> None:
    """pytest's end-of-run report for the tests that finished, written from a signal handler."""
    config = session.config
    xml = config.stash.get(xml_key, None)
    if xml is not None:
        xml.pytest_sessionfinish()
    last_failed = config.pluginmanager.get_plugin("lfplugin")
    if last_failed is not None:
        last_failed.pytest_sessionfinish(session)
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        _write_summary(reporter, config)


def _write_summary(reporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    writer = reporter._tw
    terminal, buffer = writer._file, io.StringIO()
    writer._file = buffer
    try:
        writer.line("")
        config.hook.pytest_terminal_summary(
            terminalreporter=reporter, exitstatus=pytest.ExitCode.INTERRUPTED, config=config
        )
        reporter.summary_stats()
    finally:
        writer._file = terminal
        _write_to(terminal, buffer.getvalue())


def _write_to(stream: TextIO, text: str) -> None:
    with contextlib.suppress(Exception):
        stream.flush()  # what the run wrote before, first
    encoding = getattr(stream, "encoding", None) or "utf-8"
    data = text.encode(encoding, errors="replace")
    try:
        descriptor = stream.fileno()
    except (AttributeError, OSError, ValueError):  # not a file (an in-process run's capture)
        with contextlib.suppress(Exception):
            stream.write(text)
            stream.flush()
        return
    with contextlib.suppress(OSError):
        while data:
            data = data[os.write(descriptor, data) :]
