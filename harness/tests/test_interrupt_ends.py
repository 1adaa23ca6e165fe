"""The ends of an interrupted run, in any project (this one names no harness_project): the handler
for pytest's own start-up that the distribution's .pth file installs in pytest runs and nowhere
else, its hand-over to the plugin's, and the report an interrupted run still writes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import pytest_dbharness_early as early
from _pytest.assertion.rewrite import AssertionRewriter
from pytest_dbharness import interrupts
from runs import clean_env

HARNESS = Path(__file__).resolve().parents[1]
# The inner runs' own cache; without the fuzzer's plugins, whose import is most of a start-up here.
INNER_OPTIONS = [
    *("-o", "cache_dir=cache", "-o", "asyncio_default_fixture_loop_scope=function"),
    *("-p", "no:schemathesis", "-p", "no:hypothesispytest"),
]


@pytest.mark.parametrize(
    ("argv", "orig_argv", "is_pytest"),
    [
        (["/venv/bin/pytest", "-q"], ["/venv/bin/python", "/venv/bin/pytest", "-q"], True),
        (["/venv/bin/py.test"], ["/venv/bin/python", "/venv/bin/py.test"], True),
        (["-m", "-q"], ["python", "-m", "pytest", "-q"], True),
        (["-m", "-q"], ["python", "-X", "importtime", "-mpytest", "-q"], True),
        (["-m", "pytest"], ["python", "-m", "pip", "pytest"], False),
        (["/venv/bin/backend", "serve"], ["/venv/bin/python", "/venv/bin/backend", "serve"], False),
        (["-c", "pytest"], ["python", "-c", "import pytest", "pytest"], False),
        (["/srv/pytest_report.py"], ["python", "/srv/pytest_report.py"], False),
        ([], ["python"], False),
    ],
)
def test_only_a_pytest_command_gets_the_early_handler(
    argv: list[str], orig_argv: list[str], is_pytest: bool
) -> None:
    assert early.is_pytest_command(argv, orig_argv) is is_pytest


@pytest.fixture
def handlers() -> Iterator[None]:
    """This run's own handlers, put back after a test that changes them."""
    saved = {signum: signal.getsignal(signum) for signum in early.SIGNALS}
    yield
    for signum, handler in saved.items():
        signal.signal(signum, handler)


@pytest.mark.usefixtures("handlers")
def test_the_plugin_takes_over_from_the_early_handler_and_keeps_anyone_elses() -> None:
    def someone_elses(_signum: int, _frame: object) -> None:
        pass  # pragma: no cover - never signalled

    for signum in early.SIGNALS:
        signal.signal(signum, signal.SIG_DFL)
    early.install(argv=["pytest"], orig_argv=["python", "pytest"])
    assert all(early.is_early_handler(signal.getsignal(signum)) for signum in early.SIGNALS)
    interrupts.install()
    assert [signal.getsignal(signum) for signum in early.SIGNALS] == [interrupts._interrupted] * 2

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a background job's
    signal.signal(signal.SIGTERM, someone_elses)
    early.install(argv=["pytest"], orig_argv=["python", "pytest"])
    interrupts.install()
    assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    assert signal.getsignal(signal.SIGTERM) is someone_elses


SHOW_HANDLERS = (
    "import signal, sys; print(signal.getsignal(signal.SIGINT) is signal.default_int_handler, "
    "signal.getsignal(signal.SIGTERM) is signal.SIG_DFL, "
    "any(name.endswith('_dbharness_early') for name in sys.modules))"  # no 'pytest' in the command
)


def test_every_other_process_keeps_pythons_handling() -> None:
    plain = subprocess.run(
        [sys.executable, "-c", SHOW_HANDLERS], capture_output=True, text=True, check=True
    )
    assert plain.stdout.split() == ["True", "True", "False"]  # not even imported
    mentions_pytest = subprocess.run(
        [sys.executable, "-c", SHOW_HANDLERS, "--report", "pytest.log"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert mentions_pytest.stdout.split() == ["True", "True", "True"]


def test_the_wheel_ships_the_pth_file_and_its_module(tmp_path: Path) -> None:
    uv = os.environ.get("UV") or "uv"
    subprocess.run(
        [uv, "build", "--wheel", "--quiet", "--out-dir", str(tmp_path), str(HARNESS)],
        check=True,
        timeout=120,
    )
    (wheel,) = tmp_path.glob("pytest_dbharness-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        pth = archive.read("pytest_dbharness_early.pth").decode()
    assert "pytest_dbharness_early.py" in names
    assert "pytest_dbharness/interrupts.py" in names
    (code,) = [line for line in pth.splitlines() if not line.startswith("#")]
    assert code.startswith("import ") and "pytest_dbharness_early" in code
    # Imported before pytest starts, the module cannot be rewritten: pytest must not warn of it.
    assert AssertionRewriter.is_rewrite_disabled(early.__doc__ or "")


PLAIN_TESTS = """
import os, time
from pathlib import Path


def test_fails():
    assert 1 + 1 == 3


def test_passes():
    pass


def test_stalls():
    (Path(os.environ["MARK_DIR"]) / "stalled").touch()
    time.sleep(60)
"""


def _interrupt_mid_test(project: Path, *args: str) -> str:
    project.mkdir(exist_ok=True)
    (project / "pytest.ini").write_text("[pytest]\n")
    (project / "test_plain.py").write_text(textwrap.dedent(PLAIN_TESTS))
    process = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", *INNER_OPTIONS, *args],
        cwd=project,
        env=clean_env(MARK_DIR=str(project)),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        process_group=0,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 60
    while not (project / "stalled").exists():
        assert process.poll() is None, process.communicate()[0]
        assert time.monotonic() < deadline, "the inner run never reached its stalling test"
        time.sleep(0.01)
    os.killpg(process.pid, signal.SIGINT)
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 2, output
    return output


def test_an_interrupted_run_reports_what_finished_as_pytest_does_on_ctrl_c(
    tmp_path: Path,
) -> None:
    output = _interrupt_mid_test(tmp_path, "--junitxml=junit.xml")
    for noise in ("Traceback", "KeyboardInterrupt", "INTERNALERROR"):
        assert noise not in output, output
    lines = output.strip().splitlines()
    assert lines[-1] == (
        "interrupted by SIGINT during the tests (2 finished): the run stopped, and nothing it "
        "started is left running"
    ), output
    assert "test_plain.py:7: AssertionError" in output, output  # the FAILURES section
    assert "FAILED test_plain.py::test_fails - assert (1 + 1) == 3" in output, output
    assert "1 failed, 1 passed in " in output, output
    suite = ET.parse(tmp_path / "junit.xml").getroot().find("testsuite")  # noqa: S314 - its own
    assert suite is not None
    assert suite.get("tests") == "2", ET.tostring(suite)
    # The unfinished test is a nameless entry, as in the file pytest itself writes on Ctrl-C.
    names = [case.get("name") for case in suite.iter("testcase") if case.get("name")]
    assert names == ["test_fails", "test_passes"], ET.tostring(suite)
    lastfailed = json.loads((tmp_path / "cache/v/cache/lastfailed").read_text())
    assert list(lastfailed) == ["test_plain.py::test_fails"]  # so that --lf reruns it


def test_without_the_plugin_a_signal_past_start_up_is_pythons_and_pytests(
    tmp_path: Path,
) -> None:
    output = _interrupt_mid_test(tmp_path, "-p", "no:dbharness")
    assert "KeyboardInterrupt" in output, output  # pytest's own report of it
    assert "test_plain.py:16: KeyboardInterrupt" in output, output  # at the test's line
    assert "1 failed, 1 passed in " in output, output
    assert "interrupted by" not in output, output
