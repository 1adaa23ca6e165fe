"""The pytest plugin: options, markers, provisioning per run, the header and the summary.

pytest loads it through the ``pytest11`` entry point of the pytest-dbharness distribution; the
fixtures live in ``pytest_dbharness.fixtures``. In a project whose ini names no ``harness_project``
it stays inert: no option is required, nothing is provisioned, and a test that asks for a database
fixture fails saying what to set.
"""

from __future__ import annotations

import signal
from typing import Any

import pytest
from pytest_asyncio import is_async_test

from pytest_dbharness.backends import ENGINES, only_marker
from pytest_dbharness.event_loop import use_one_loop
from pytest_dbharness.fixtures.isolation import tracker_key
from pytest_dbharness.harness import WORKERINPUT_KEY, Harness, harness_key
from pytest_dbharness.options import HarnessConfigError, add_options, read_options
from pytest_dbharness.project import add_ini, configured_project, current_project, load_project
from pytest_dbharness.rewriting import rewrite_only_our_own
from pytest_dbharness.rooting import reroot

# Before the entry-point plugins are imported (this plugin is named first in addopts).
rewrite_only_our_own()

pytest_plugins = [
    "pytest_dbharness.fixtures.database",
    "pytest_dbharness.fixtures.app",
    "pytest_dbharness.fixtures.live_server",
]

# Set on the skip report of a test that only means something on another engine (the summary counts
# them; user properties reach the controller from xdist workers).
SKIPPED_FOR_ENGINE = "skipped_as_meaningful_on"


NOT_CONFIGURED = "dbharness: inactive (no harness_project in the ini file: see docs/harness.md)"


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)
    add_ini(parser)


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config, args: list[str]) -> None:
    # Before pytest looks for conftests: ``--pg-ctl PATH`` may have chosen the wrong rootdir.
    reroot(early_config, args)
    if configured_project(early_config):
        # Before pytest-asyncio reads its loop scopes, in its pytest_configure (event_loop.py).
        use_one_loop(early_config)


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
    if not configured_project(config):
        return
    load_project(config)
    try:
        options = read_options(config)
    except HarnessConfigError as error:
        raise pytest.UsageError(str(error)) from None
    harness = config.stash[harness_key] = Harness(options=options, config=config)
    if harness.is_worker or not _needs_database(config):
        return
    _stop_cleanly_on_sigterm()
    # Provisioned here rather than lazily: before xdist starts its workers (they receive the
    # result), before the header is printed (it shows the result), and so that a problem stops
    # the run with one usage error instead of a failure in every test.
    try:
        harness.provision()
    except HarnessConfigError as error:
        raise pytest.UsageError(f"test database (pytest-dbharness): {error}") from None


def _stop_cleanly_on_sigterm() -> None:
    """Turn SIGTERM into KeyboardInterrupt, so the run unwinds and stops its server as on Ctrl-C."""

    def interrupt(_signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt("SIGTERM")

    if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
        signal.signal(signal.SIGTERM, interrupt)


def _needs_database(config: pytest.Config) -> bool:
    return not (config.option.collectonly or config.option.help or config.option.version)


def pytest_unconfigure(config: pytest.Config) -> None:
    harness = config.stash.get(harness_key, None)
    if harness is not None and not harness.is_worker:
        harness.teardown()


class XdistHooks:
    """Hands the controller's provisioned server and template to every worker."""

    @staticmethod
    def pytest_configure_node(node: Any) -> None:
        harness = node.config.stash.get(harness_key, None)
        if harness is None:
            return
        node.workerinput[WORKERINPUT_KEY] = harness.to_workerinput()


@pytest.hookimpl(trylast=True)
def pytest_plugin_registered(plugin: Any, manager: pytest.PytestPluginManager) -> None:
    if getattr(plugin, "__name__", "") == "xdist.plugin" and not manager.has_plugin(
        "backend-xdist"
    ):
        manager.register(XdistHooks(), "backend-xdist")


def pytest_report_header(config: pytest.Config) -> list[str]:
    harness = config.stash.get(harness_key, None)
    if harness is None:
        return [NOT_CONFIGURED]
    if harness.provisioned is None:
        return [f"database: {harness.options.engine} (not started: nothing to run)"]
    report = harness.provisioned.report
    phases = ", ".join(f"{name} {seconds:.2f}s" for name, seconds in report.phases.items())
    schema_problem = harness.provisioned.template_error
    driver = current_project().driver_for(ENGINES[harness.options.engine].dialect)
    return [
        f"database: {report.engine}, {report.server}, the app's driver {driver}",
        *([f"database schema: NOT BUILT: {schema_problem}"] if schema_problem else []),
        f"database server: {report.location}",
        f"database schema: revision {report.revision}, cache {report.cache}"
        + (f" ({harness.schema_cache})" if harness.schema_cache else ""),
        f"database start-up: {phases or 'nothing to do'}",
    ]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every async test runs on the run's one loop, whatever its own marks say (event_loop.py)."""
    if harness_key not in config.stash:
        return
    one_loop = pytest.mark.asyncio(loop_scope="session")
    for item in items:
        if is_async_test(item):
            item.add_marker(one_loop, append=False)


def pytest_runtest_setup(item: pytest.Item) -> None:
    harness = item.config.stash.get(harness_key, None)
    if harness is None:
        return
    engine = harness.options.engine
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
    harness = config.stash.get(harness_key, None)
    if harness is None:
        return
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
