"""The pytest plugin: options, markers, provisioning per run, the header and the summary.

``backend/tests/conftest.py`` loads this module; the fixtures live in ``backend.testing.fixtures``.
"""

# ruff: noqa: E402 - the interrupt handler is installed before the imports that take most of start-up

from __future__ import annotations

from backend.testing import interrupts

interrupts.install()

from typing import Any

import pytest

from backend.testing.backends import ENGINES, only_marker
from backend.testing.fixtures.isolation import tracker_key
from backend.testing.harness import WORKERINPUT_KEY, Harness, harness_key
from backend.testing.options import HarnessConfigError, add_options, read_options
from backend.testing.project import add_ini, load_project
from backend.testing.rewriting import rewrite_only_our_own

# Before the entry-point plugins are imported (this plugin is named first in addopts).
rewrite_only_our_own()

pytest_plugins = [
    "backend.testing.fixtures.database",
    "backend.testing.fixtures.app",
    "backend.testing.fixtures.live_server",
]

# Set on the skip report of a test that only means something on another engine (the summary counts
# them; user properties reach the controller from xdist workers).
SKIPPED_FOR_ENGINE = "skipped_as_meaningful_on"


def pytest_addoption(parser: pytest.Parser, pluginmanager: pytest.PytestPluginManager) -> None:
    add_options(parser)
    add_ini(parser)
    pluginmanager.register(interrupts.RunPhases(), "backend-interrupt-phases")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "committed: the test commits for real or opens several connections; it gets the worker's "
        "database without the rollback wrapper, and every table is emptied after it",
    )
    for name, engine in ENGINES.items():
        config.addinivalue_line(
            "markers",
            f"{only_marker(name)}(reason): only meaningful on {engine.label}; skipped on the others",
        )
    load_project(config)
    try:
        options = read_options(config)
    except HarnessConfigError as error:
        raise pytest.UsageError(str(error)) from None
    harness = config.stash[harness_key] = Harness(options=options, config=config)
    if harness.is_worker or not _needs_database(config):
        return
    config.stash[_forget_key] = [
        interrupts.on_interrupt(harness.abandon),
        interrupts.on_interrupt(_terminal_for(config)),  # runs first: cleanups go in reverse
    ]
    # Provisioned here rather than lazily: before xdist starts its workers (they receive the
    # result), before the header is printed (it shows the result), and so that a problem stops
    # the run with one usage error instead of a failure in every test.
    try:
        harness.provision()
    except HarnessConfigError as error:
        raise pytest.UsageError(f"backend test database: {error}") from None


_forget_key = pytest.StashKey[list[Any]]()


def _terminal_for(config: pytest.Config) -> Any:
    """An interrupt's line goes to the terminal, not to a test's captured output."""

    def release() -> None:
        capture = config.pluginmanager.getplugin("capturemanager")
        if capture is not None:
            capture.suspend_global_capture(in_=True)

    return release


def pytest_unconfigure(config: pytest.Config) -> None:
    harness = config.stash.get(harness_key, None)
    if harness is not None and not harness.is_worker:
        harness.teardown()
    for forget in config.stash.get(_forget_key, []):
        forget()


def _needs_database(config: pytest.Config) -> bool:
    return not (config.option.collectonly or config.option.help or config.option.version)


class XdistHooks:
    """Hands the controller's provisioned server and template to every worker."""

    @staticmethod
    def pytest_configure_node(node: Any) -> None:
        harness = node.config.stash[harness_key]
        node.workerinput[WORKERINPUT_KEY] = harness.to_workerinput()


@pytest.hookimpl(trylast=True)
def pytest_plugin_registered(plugin: Any, manager: pytest.PytestPluginManager) -> None:
    if getattr(plugin, "__name__", "") == "xdist.plugin" and not manager.has_plugin(
        "backend-xdist"
    ):
        manager.register(XdistHooks(), "backend-xdist")


def pytest_report_header(config: pytest.Config) -> list[str]:
    harness = config.stash[harness_key]
    if harness.provisioned is None:
        return [f"database: {harness.options.engine} (not started: nothing to run)"]
    report = harness.provisioned.report
    phases = ", ".join(f"{name} {seconds:.2f}s" for name, seconds in report.phases.items())
    schema_problem = harness.provisioned.template_error
    return [
        f"database: {report.engine}, {report.server}",
        *([f"database schema: NOT BUILT: {schema_problem}"] if schema_problem else []),
        f"database server: {report.location}",
        f"database schema: revision {report.revision}, cache {report.cache}"
        + (f" ({harness.schema_cache})" if harness.schema_cache else ""),
        f"database start-up: {phases or 'nothing to do'}",
    ]


def pytest_runtest_setup(item: pytest.Item) -> None:
    engine = item.config.stash[harness_key].options.engine
    for only_on in ENGINES:
        marker_name = only_marker(only_on)
        marker = item.get_closest_marker(marker_name)
        if marker is None:
            continue
        reason = marker.kwargs.get("reason") or (marker.args[0] if marker.args else None)
        if not reason:
            raise pytest.UsageError(
                f"{item.nodeid}: @pytest.mark.{marker_name} needs a reason, "
                f'e.g. @pytest.mark.{marker_name}(reason="row locks exist only on PostgreSQL")'
            )
        if engine != only_on:
            item.user_properties.append((SKIPPED_FOR_ENGINE, only_on))
            pytest.skip(f"{only_on} only: {reason}")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Any:
    """A test the isolation tracker stopped fails with the tracker's one message.

    The tracker raises inside the app or SQLAlchemy, where the failure may come back wrapped
    (an exception group, a failed commit, a 500 the test asserted on) or be swallowed; the
    message is what the test's author needs.
    """
    try:
        outcome = yield
    except BaseException:
        _fail_if_stopped(item)
        raise
    _fail_if_stopped(item)
    return outcome


def _fail_if_stopped(item: pytest.Item) -> None:
    tracker = item.stash.get(tracker_key, None)
    if tracker is not None and tracker.violation and not tracker.acknowledged:
        raise pytest.fail.Exception(tracker.violation, pytrace=False) from None


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    harness = config.stash[harness_key]
    engine = harness.options.engine
    stats = terminalreporter.stats
    ran = len([r for r in stats.get("passed", []) if r.when == "call"]) + len(
        [r for r in stats.get("failed", []) if r.when == "call"]
    )
    skipped_for_engine = sum(
        1
        for report in stats.get("skipped", [])
        if any(key == SKIPPED_FOR_ENGINE for key, _ in getattr(report, "user_properties", ()))
    )
    terminalreporter.write_sep("-", "database engines")
    terminalreporter.write_line(
        f"{ran} tests ran on {engine}; {skipped_for_engine} skipped as meaningful on the other engine only"
    )
