"""The pytest plugin: options, markers, provisioning per run, the header and the summary.

pytest loads it through the ``pytest11`` entry point of the pytest-dbharness distribution; the
fixtures live in ``pytest_dbharness.fixtures``. In a project whose ini names no ``harness_project``
it stays inert: nothing is provisioned, and a test that asks for a database fixture fails saying
what to set.
"""

# ruff: noqa: E402 - the interrupt handler is installed before the imports that take most of start-up

from __future__ import annotations

from pytest_dbharness import interrupts, rewriting

interrupts.install()
# Before the heavy imports below and the other entry-point plugins (named first in addopts).
rewriting.rewrite_only_the_projects()

import gc
import importlib

# Python's cyclic collector stays off while pytest imports the project and collects its tests:
# start-up makes objects by the hundred thousand and frees few, so every collection it triggers
# walks them for nothing (13 % of the CPU of importing this project's app, measured). It is back
# on, with what start-up made frozen out of its walks, when collection ends (or, in a project
# that names no harness_project, when pytest is configured).
_COLLECTOR_WAS_ON = gc.isenabled()
gc.disable()
import os
import sys
from collections.abc import Generator, Iterator
from typing import Any

import pytest
from pytest_asyncio import is_async_test

from pytest_dbharness import blocker
from pytest_dbharness.backends import ENGINES, only_marker
from pytest_dbharness.event_loop import use_one_loop
from pytest_dbharness.fixtures.clock import CLOCK_CHOICES, CLOCK_INI, clock_choice, summary_lines
from pytest_dbharness.harness import WORKERINPUT_KEY, Harness, harness_key
from pytest_dbharness.modes import CLOCK_READ, isolation_mode
from pytest_dbharness.options import (
    ISOLATIONS,
    HarnessConfigError,
    add_ini_options,
    add_options,
    read_options,
)
from pytest_dbharness.project import (
    INI_NAME,
    add_ini,
    configured_project,
    current_project,
    load_project,
    refuse_misspelt_ini_keys,
)
from pytest_dbharness.rooting import reroot
from pytest_dbharness.stops import BOARD, as_failure, call_failed_key

# The plugin's fixture and hook modules, registered right after it, in this order (as
# ``pytest_plugins`` would: see ``pytest_plugin_registered``). Not in ``pytest_plugins``, since
# pytest 9 first looks each name there up among the entry points of every installed distribution
# (3.5 ms a name with this project's 98), in every process and every in-process pytester run.
SUBPLUGINS = (
    # First: its autouse fixture is then the first function-scoped one set up, the last torn down.
    "pytest_dbharness.fixtures.outside_writes",
    "pytest_dbharness.fixtures.database",
    "pytest_dbharness.fixtures.scoped",
    "pytest_dbharness.fixtures.app",
    "pytest_dbharness.fixtures.live_server",
    "pytest_dbharness.sharding",
)

# Set on the skip report of a test that only means something on another engine (the summary counts
# them; user properties reach the controller from xdist workers).
SKIPPED_FOR_ENGINE = "skipped_as_meaningful_on"
SKIPPED_FOR_ISOLATION = "skipped_as_meaningful_with_isolation"
# The markers of tests meaningful with one isolation only: rollback_only, commit_only.
MODE_MARKERS = {f"{mode}_only": mode for mode in ISOLATIONS}


NOT_CONFIGURED = "dbharness: inactive (no harness_project in the ini file: see docs/harness.md in pytest-dbharness's repository)"


def pytest_addoption(parser: pytest.Parser, pluginmanager: pytest.PytestPluginManager) -> None:
    add_options(parser)
    add_ini_options(parser)
    add_ini(parser)
    pluginmanager.register(interrupts.RunPhases(), "dbharness-interrupt-phases")


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
        "committed: the test commits for real or opens several connections; it runs with "
        "--isolation commit whatever the run's isolation (real commits, the tables it wrote "
        "emptied after it)",
    )
    for name, mode in MODE_MARKERS.items():
        config.addinivalue_line(
            "markers",
            f"{name}(reason): only meaningful with --isolation {mode}; skipped with the other",
        )
    for name, engine in ENGINES.items():
        config.addinivalue_line(
            "markers",
            f"{only_marker(name)}(reason): only meaningful on {engine.label}; skipped on the others",
        )
    refuse_misspelt_ini_keys(config, [INI_NAME, CLOCK_INI])
    if not configured_project(config):
        _collector_back_on()
        return
    project = load_project(config)
    # Imported here: the plugin of a project that names no harness_project imports no FastAPI.
    from pytest_dbharness import alembic_scripts, fastapi_overrides

    fastapi_overrides.install()
    alembic_scripts.install()
    try:
        options = read_options(config)
    except HarnessConfigError as error:
        raise pytest.UsageError(str(error)) from None
    clock = clock_choice(config)
    if clock not in CLOCK_CHOICES:
        raise pytest.UsageError(
            f"{CLOCK_INI} = {clock!r} in the pytest ini: choose one of {', '.join(CLOCK_CHOICES)}"
        )
    blocker.block(project.configured_database_url())
    harness = config.stash[harness_key] = Harness(options=options, config=config)
    if harness.is_worker or not _needs_database(config):
        return
    driver_problem = project.driver_problem(ENGINES[options.engine].dialect)
    if driver_problem is not None:
        raise pytest.UsageError(f"test database (pytest-dbharness): {driver_problem}")
    config.stash[_forget_key] = [interrupts.on_interrupt(harness.abandon)]
    # Provisioned here rather than lazily: before xdist starts its workers (they receive the
    # result), before the header is printed (it shows the result), and so that a problem stops
    # the run with one usage error instead of a failure in every test.
    try:
        harness.provision()
    except HarnessConfigError as error:
        raise pytest.UsageError(f"test database (pytest-dbharness): {error}") from None


_forget_key = pytest.StashKey[list[Any]]()


def _needs_database(config: pytest.Config) -> bool:
    return not (config.option.collectonly or config.option.help or config.option.version)


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    # What is alive now (every module, the collected tests) lives until the process ends: frozen,
    # Python's collector stops walking it on every full collection (0.6 s of 1.6 s of collecting
    # in 400 API tests, measured), and the two collections pytest makes at the end get cheaper.
    if configured_project(session.config):
        gc.freeze()
    _collector_back_on()


@pytest.hookimpl(tryfirst=True)
def pytest_runtestloop(session: pytest.Session) -> None:
    # Where collection did not run here (xdist's controller collects nothing itself).
    _collector_back_on()


def _collector_back_on() -> None:
    if _COLLECTOR_WAS_ON:
        gc.enable()


def pytest_unconfigure(config: pytest.Config) -> None:
    harness = config.stash.get(harness_key, None)
    if harness is not None and not harness.is_worker:
        harness.teardown()
    for forget in config.stash.get(_forget_key, []):
        forget()


class XdistHooks:
    """Hands the controller's provisioned server and template to every worker."""

    @staticmethod
    def pytest_configure_node(node: Any) -> None:
        harness = node.config.stash.get(harness_key, None)
        if harness is None:
            return
        node.workerinput[WORKERINPUT_KEY] = harness.to_workerinput()


def _register_subplugins(manager: pytest.PytestPluginManager) -> None:
    """What ``pytest_plugins`` does, less the entry-point search, and not marking this package's
    modules for assertion rewriting (see rewriting.py; marking an imported one warns)."""
    for name in SUBPLUGINS:
        if not manager.is_blocked(name) and manager.get_plugin(name) is None:
            manager.register(importlib.import_module(name), name)


@pytest.hookimpl(trylast=True)
def pytest_plugin_registered(plugin: Any, manager: pytest.PytestPluginManager) -> None:
    if plugin is sys.modules[__name__]:
        _register_subplugins(manager)
    if getattr(plugin, "__name__", "") == "xdist.plugin" and not manager.has_plugin(
        "dbharness-xdist"
    ):
        manager.register(XdistHooks(), "dbharness-xdist")


def pytest_report_header(config: pytest.Config) -> list[str]:
    harness = config.stash.get(harness_key, None)
    if harness is None:
        return [NOT_CONFIGURED]
    if harness.provisioned is None:
        return [
            f"database: {harness.options.engine} (not started: nothing to run), "
            f"isolation {harness.options.isolation}"
        ]
    report = harness.provisioned.report
    phases = ", ".join(f"{name} {seconds:.2f}s" for name, seconds in report.phases.items())
    schema_problem = harness.provisioned.template_error
    driver = current_project().driver_for(ENGINES[harness.options.engine].dialect)
    cache = f"cache {report.cache}" + (f" ({harness.schema_cache})" if harness.schema_cache else "")
    schema = (
        f"NOT BUILT ({cache}): {schema_problem}"
        if schema_problem
        else f"revision {report.revision}, {cache}"
    )
    return [
        f"database: {report.engine}, {report.server}, the app's driver {driver}, "
        f"isolation {harness.options.isolation}",
        f"database server: {report.location}",
        f"database schema: {schema}",
        f"database start-up: {phases or 'nothing to do'}",
    ]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Markers that need a reason and have none stop the run here, before any test runs; every
    async test runs on the run's one event loop, whatever its own marks say (event_loop.py)."""
    if harness_key not in config.stash:
        return
    markers = [*(only_marker(name) for name in ENGINES), *MODE_MARKERS]
    one_loop = pytest.mark.asyncio(loop_scope="session")
    for item in items:
        if is_async_test(item):
            item.add_marker(one_loop, append=False)
        for name in markers:
            marker = item.get_closest_marker(name)
            if marker is not None and not _reason(marker):
                raise pytest.UsageError(
                    f"{item.nodeid}: @pytest.mark.{name} needs a reason, e.g. "
                    f'@pytest.mark.{name}(reason="row locks exist only on PostgreSQL")'
                )


def _reason(marker: pytest.Mark) -> str | None:
    return marker.kwargs.get("reason") or (marker.args[0] if marker.args else None)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Iterator[None]:
    BOARD.start(item)
    try:
        return (yield)
    finally:
        BOARD.finish()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, Any, Any]:
    skipped = skipped_here(item)
    if skipped is not None:
        reason, counted_under, only = skipped
        item.user_properties.append((counted_under, only))
        pytest.skip(reason)
    # A stop a fixture's code swallowed (in a task of its own, say) fails the set-up.
    return (yield from _failing_if_stopped(item))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Generator[None, Any, Any]:
    # A stop while the test's end waited for the tasks it left running (a job an endpoint started
    # and did not await), or in a fixture's teardown that swallowed it: the test's, not the next's.
    return (yield from _failing_if_stopped(item))


def _failing_if_stopped(item: pytest.Item, *, call: bool = False) -> Generator[None, Any, Any]:
    """One phase of the test (a hook wrapper's yield), failed with a stop recorded in it; a
    failed call is noted on the item (a teardown problem then warns instead of failing again)."""
    try:
        outcome = yield
    except BaseException:
        if call:
            item.stash[call_failed_key] = True
        # A stop that SQLAlchemy or the fixture carried up (or what followed from it): the phase
        # fails with the stop's message at the line, as a test's call does, not the traceback.
        _fail_if_stopped()
        raise
    _fail_if_stopped()
    return outcome


def skipped_here(item: pytest.Item) -> tuple[str, str, str] | None:
    """Whether this run skips ``item`` as meaningful on another engine or isolation only: (the
    reason, the summary's count it goes under, the engine or isolation it needs), else None.
    For a project's own fixtures that plan ahead (which tests of the run will really run)."""
    harness = item.config.stash.get(harness_key, None)
    if harness is None:
        return None
    engine = harness.options.engine
    for only_on in ENGINES:
        marker = item.get_closest_marker(only_marker(only_on))
        if marker is not None and engine != only_on:
            return f"{only_on} only: {_reason(marker)}", SKIPPED_FOR_ENGINE, only_on
    mode = isolation_mode(item)
    for name, only_with in MODE_MARKERS.items():
        marker = item.get_closest_marker(name)
        if marker is not None and mode != only_with:
            return (
                f"--isolation {only_with} only: {_reason(marker)}",
                SKIPPED_FOR_ISOLATION,
                only_with,
            )
    return None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, Any, Any]:
    """One route out for the harness's stops: a stopped test fails with the stop's message, at
    the test's line, whatever carried the stop up (an exception group, a failed commit, a 500 the
    test asserted on) or swallowed it. Environment variables the test changed are put back."""
    environment = dict(os.environ)
    try:
        return (yield from _failing_if_stopped(item, call=True))
    finally:
        _restore_environment(environment)


def _fail_if_stopped() -> None:
    stop = BOARD.to_fail_with()
    if stop is not None:
        raise as_failure(stop) from None


def _restore_environment(saved: dict[str, str]) -> None:
    # Only what differs: pytest itself moves PYTEST_CURRENT_TEST on during the call, and setting
    # every variable again would call putenv some fifty times after each test.
    for name in os.environ.keys() - saved.keys():
        del os.environ[name]
    for name, value in saved.items():
        if os.environ.get(name) != value:
            os.environ[name] = value


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    harness = config.stash.get(harness_key, None)
    if harness is None:
        return
    engine = harness.options.engine
    stats = terminalreporter.stats
    ran = len([r for r in stats.get("passed", []) if r.when == "call"]) + len(
        [r for r in stats.get("failed", []) if r.when == "call"]
    )
    skipped_for_engine = _count(stats.get("skipped", []), SKIPPED_FOR_ENGINE)
    skipped_for_isolation = _count(stats.get("skipped", []), SKIPPED_FOR_ISOLATION)
    terminalreporter.write_sep("-", "database engines")
    terminalreporter.write_line(
        f"{ran} tests ran on {engine}; {skipped_for_engine} skipped as meaningful on the other engine only"
    )
    terminalreporter.write_line(
        f"isolation {harness.options.isolation}; {skipped_for_isolation} skipped as meaningful "
        "with the other isolation only"
    )
    clock_readers = {
        report.nodeid: str(value)
        for reports in stats.values()
        for report in reports
        for key, value in getattr(report, "user_properties", ())
        if key == CLOCK_READ
    }
    if clock_readers:
        terminalreporter.write_sep("-", "transaction clock", yellow=True)
        verbose = terminalreporter.config.get_verbosity() > 0
        for line in summary_lines(clock_readers, all_of_them=verbose):
            terminalreporter.write_line(line, yellow=True)


def _count(reports: list[Any], key: str) -> int:
    return sum(1 for r in reports if any(k == key for k, _ in getattr(r, "user_properties", ())))
