"""``python -m backend.bench``: time what a developer waits for, with pyperf; print, save, publish.

pyperf's ``Runner`` runs each figure's command in fresh worker processes (``--processes``, one
warm-up then one timed run each by default), keeps every value with the machine's metadata, and
writes one JSON file; ``python -m pyperf show bench-results/pyperf.json`` reads it too. This module
re-runs in every worker process (that is how pyperf works), so everything but the benchmarks runs
in the manager only.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pyperf
from pytest_dbharness.backends import ENGINES

from backend.bench import junit, own_cpu, plan, report, shards
from backend.bench.results import read_run, write_record
from backend.config import PROJECT_ROOT

OUTPUT = Path("bench-results/pyperf.json")
LOGS = OUTPUT.parent.resolve() / "logs"
JUNIT = OUTPUT.parent.resolve() / "junit"
OWN_CPU = OUTPUT.parent.resolve() / "own-cpu"
EXIT_LINE = "bench: exit status "
DOCS_PAGE = PROJECT_ROOT / "docs" / "speed-or-parity.md"
DOCS_DATA = PROJECT_ROOT / "docs" / "bench"


def _commit() -> str:
    described = subprocess.run(
        ["git", "describe", "--always", "--dirty", "--abbrev=10"],  # noqa: S607
        cwd=PROJECT_ROOT, capture_output=True, text=True, check=False,
    )  # fmt: skip
    return described.stdout.strip() or "unknown"


def _forward(cmd: list[str], args: argparse.Namespace) -> None:
    """Our options for pyperf's workers, so that they build the same plan as the manager."""
    if args.only:
        cmd.extend(["--only", args.only])


def make_runner() -> pyperf.Runner:
    runner = pyperf.Runner(
        processes=3, values=1, warmups=1, loops=1,
        program_args=("-m", "backend.bench"), add_cmdline_args=_forward,
        metadata={"commit": _commit()},
    )  # fmt: skip
    parser = runner.argparser
    parser.description = "Time the fast lane, one test, the parity lanes and a shard's start-up."
    parser.add_argument(
        "--docs", action="store_true",
        help=f"also keep the run in {DOCS_DATA.relative_to(PROJECT_ROOT)}/ and regenerate the "
        f"measured section of {DOCS_PAGE.relative_to(PROJECT_ROOT)} from it",
    )  # fmt: skip
    parser.add_argument(
        "--only", metavar="TEXT", default="",
        help="time only the figures whose name contains TEXT (the yardstick is always sampled)",
    )  # fmt: skip
    parser.add_argument(
        "--report-only", action="store_true",
        help="time nothing: print (and with --docs, publish) the run already in -o's file",
    )  # fmt: skip
    # Every run measures the whole environment the developer has; workers see it all.
    parser.set_defaults(copy_env=True)
    return runner


def measure(runner: pyperf.Runner, uv: str, only: str) -> None:
    """Every figure, with Y sampled before, between and after them (runs in every process)."""
    number = 1
    runner.bench_func(plan.yardstick_name(number), plan.yardstick)
    for figure in [figure for figure in plan.figures(uv) if only in figure.name]:
        runner.bench_command(figure.name, logged(figure))
        number += 1
        runner.bench_func(plan.yardstick_name(number), plan.yardstick)


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def log_of(name: str) -> Path:
    return LOGS / f"{_slug(name)}.log"


def junit_of(name: str) -> Path:
    return JUNIT / f"{_slug(name)}.xml"


def own_cpu_of(name: str) -> Path:
    return OWN_CPU / f"{_slug(name)}.json"


def logged(figure: plan.Figure) -> list[str]:
    """The command, its output kept in ``bench-results/logs/`` (pyperf keeps none), through a
    shell that costs a few milliseconds. pytest's exit code 1 (some tests failed) still times the
    whole suite: the run is recorded, and the report says which figures had failures. A suite run
    also writes pytest's JUnit file (through ``PYTEST_ADDOPTS``, so that the command timed is the
    one typed), from which the engines are compared on the tests both ran (``junit.py``), and
    loads ``own_cpu``, which writes the CPU the run's own process used (a serial run's floor)."""
    LOGS.mkdir(parents=True, exist_ok=True)
    log = shlex.quote(str(log_of(figure.name)))
    suite_options = ""
    if figure.kind == plan.SUITE:
        JUNIT.mkdir(parents=True, exist_ok=True)
        OWN_CPU.mkdir(parents=True, exist_ok=True)
        addopts = f"--junitxml={junit_of(figure.name)} -p {own_cpu.PLUGIN}"
        suite_options = (
            f"PYTEST_ADDOPTS={shlex.quote(addopts)} "
            f"{own_cpu.FILE_ENV}={shlex.quote(str(own_cpu_of(figure.name)))} "
        )
    script = (
        f'{suite_options}"$@" > {log} 2>&1; s=$?; echo "{EXIT_LINE}$s" >> {log}; [ "$s" -le 1 ]'
    )
    return ["sh", "-c", script, "sh", *figure.command]


def compare_engines(timed: list[str]) -> dict[str, junit.Shared]:
    """Each parity engine's suite against the fast lane's, on the tests both ran, for the suites
    this run timed (``timed``: its figures' names)."""
    fast = plan.suite_name(plan.default_engine())
    compared = {}
    for engine in plan.parity_engines():
        parity = plan.suite_name(engine)
        fast_xml, parity_xml = junit_of(fast), junit_of(parity)
        if {fast, parity} <= set(timed) and fast_xml.exists() and parity_xml.exists():
            shared = junit.compare(junit.test_times(fast_xml), junit.test_times(parity_xml))
            if shared is not None:
                compared[ENGINES[engine].label] = shared
    return compared


def own_cpu_of_suites(timed: list[str]) -> dict[str, own_cpu.OwnCpu]:
    """What each suite this run timed wrote of its own process's CPU (its last timed run's)."""
    found = {}
    for engine in [plan.default_engine(), *plan.parity_engines()]:
        name = plan.suite_name(engine)
        measured = own_cpu.read(own_cpu_of(name)) if name in timed else None
        if measured is not None:
            found[name] = measured
    return found


def failed_figures(names: list[str]) -> list[str]:
    """The figures whose last timed run ended with failing tests (pytest's exit code 1)."""
    failed = []
    for name in names:
        log = log_of(name)
        lines = log.read_text(errors="replace").splitlines() if log.exists() else []
        if lines and lines[-1] == f"{EXIT_LINE}1":
            failed.append(name)
    return failed


def _output_argument(argv: list[str]) -> Path:
    """The file ``-o``/``--output`` names (pyperf's option, in any of its spellings)."""
    for index, arg in enumerate(argv):
        if arg in ("-o", "--output") and index + 1 < len(argv):
            return Path(argv[index + 1])
        if arg.startswith("--output="):
            return Path(arg.removeprefix("--output="))
    return OUTPUT


def _manager_prepares() -> None:
    """Before pyperf parses the arguments: a fresh output file (pyperf refuses an existing one),
    and none of the harness's variables, which could point a timed run at another server."""
    if "--worker" in sys.argv:
        return
    if not any(arg in ("-o", "--output") or arg.startswith("--output=") for arg in sys.argv):
        sys.argv[1:1] = ["--output", str(OUTPUT)]
    output = _output_argument(sys.argv[1:])
    output.parent.mkdir(parents=True, exist_ok=True)
    output.unlink(missing_ok=True)
    for earlier in (JUNIT, OWN_CPU):  # an earlier run's files, which this run may not replace
        shutil.rmtree(earlier, ignore_errors=True)
    for name in [
        name for name in os.environ if name.startswith(("DBHARNESS_", "BACKEND_TEST_", "PYTEST_"))
    ]:
        del os.environ[name]


def report_only(argv: list[str]) -> int:
    """``--report-only``: time nothing; print (and with ``--docs`` publish) a run already made."""
    parser = argparse.ArgumentParser(prog="python -m backend.bench --report-only")
    parser.add_argument("--report-only", action="store_true")
    parser.add_argument("--docs", action="store_true")
    parser.add_argument("-o", "--output", type=Path, default=None)
    args = parser.parse_args(argv)
    output = args.output or (OUTPUT if OUTPUT.exists() else DOCS_DATA / "pyperf.json")
    return finish(output, args.docs)


def finish(output: Path, publish: bool) -> int:
    """In the manager, after the runs: makespans, the table, the scoreboard, the docs."""
    record = output.with_name("record.json")
    run = read_run(output, record)
    if not run.makespans:
        durations = shards.read_durations()
        for engine in plan.parity_engines():
            label = ENGINES[engine].label
            start_up = run.figure(f"shard start-up, {label} (an empty shard)")
            if start_up is not None and durations:
                run.makespans[label] = shards.makespans(durations, start_up.seconds)
        run.failed = failed_figures([figure.name for figure in run.figures])
        run.shared = compare_engines([figure.name for figure in run.figures])
        run.own_cpu = own_cpu_of_suites([figure.name for figure in run.figures])
        write_record(record, run.makespans, run.commit, run.failed, run.shared, run.own_cpu)
    print("\n" + report.text(run) + "\n\nThe issue's targets (bench output only):")
    print(report.scoreboard_text(run))
    if publish:
        DOCS_DATA.mkdir(parents=True, exist_ok=True)
        for name, source in (("pyperf.json", output), ("record.json", record)):
            if source.resolve() != (DOCS_DATA / name).resolve():
                shutil.copyfile(source, DOCS_DATA / name)
        report.update_page(DOCS_PAGE, report.markdown(run))
        print(f"\nkept the run in {DOCS_DATA}, regenerated {DOCS_PAGE}")
    return 0


def main() -> int:
    if "--report-only" in sys.argv:
        return report_only(sys.argv[1:])
    _manager_prepares()
    runner = make_runner()
    args = runner.parse_args()
    uv = shutil.which("uv")
    if uv is None:
        print(
            "bench: the bench times the README's commands, which need uv on PATH", file=sys.stderr
        )
        return 1
    try:
        measure(runner, uv, args.only)
    except RuntimeError as error:  # pyperf's word for a command that failed in a worker
        print(f"bench: {error}; each command's output is in {LOGS}/", file=sys.stderr)
        return 1
    if args.worker:
        return 0
    output = Path(args.output)
    output.with_name("record.json").unlink(missing_ok=True)
    return finish(output, args.docs)


if __name__ == "__main__":
    sys.exit(main())
