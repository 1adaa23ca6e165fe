"""The bench's own logic, without timing anything: its plan, the makespan, the report and the page.

A run is made here as pyperf would write it (pyperf's own Run, Benchmark and BenchmarkSuite).
"""

from __future__ import annotations

from pathlib import Path

import pyperf
import pytest
from pytest_dbharness.backends import ENGINES

from backend.bench import __main__ as bench_main
from backend.bench import junit, own_cpu, plan, report, shards
from backend.bench.results import read_run, write_record

FAST = ENGINES[plan.default_engine()].label


def _benchmark(name: str, values: list[float], load: float = 0.5) -> pyperf.Benchmark:
    metadata = {
        "name": name, "load_avg_1min": load, "date": "2026-12-01T10:00:00", "duration": 1.0,
        "commit": "abc1234", "cpu_count": 2, "cpu_model_name": "Test CPU", "platform": "Linux",
        "command": "sh -c 'exec \"$@\" > /x/logs/a.log 2>&1' sh /somewhere/bin/uv run pytest -q",
    }  # fmt: skip
    runs = [pyperf.Run([value], metadata=metadata, collect_metadata=False) for value in values]
    return pyperf.Benchmark(runs)


def write_run(path: Path, suite_s: float = 20.0, one_s: float = 1.0) -> Path:
    benchmarks = [
        _benchmark(plan.yardstick_name(1), [0.4, 0.5]),
        _benchmark(f"one test, {FAST}", [one_s, one_s + 0.2]),
        _benchmark(plan.yardstick_name(2), [0.5, 0.6], load=1.5),
        _benchmark(f"suite, {FAST}, serial", [suite_s, suite_s + 2]),
    ]
    pyperf.BenchmarkSuite(benchmarks).dump(str(path))
    return path


def test_the_plan_takes_its_engines_from_the_harness_registry() -> None:
    figures = plan.figures("uv")
    assert {figure.engine for figure in figures} == set(ENGINES)
    assert plan.default_engine() == next(iter(ENGINES))
    fast = [f for f in figures if f.engine == plan.default_engine()]
    # The fast lane is what the README runs: no --db, exactly `uv run pytest`.
    assert ("uv", "run", "pytest", "-q") in [f.command for f in fast]
    for engine in plan.parity_engines():
        lane = next(f for f in figures if f.kind == plan.PARITY_LANE and f.engine == engine)
        assert lane.command[:6] == ("uv", "run", "nox", "-r", "-s", f"tests-{engine}")


def test_the_one_test_the_bench_times_exists() -> None:
    path, _, name = plan.ONE_TEST.partition("::")
    assert f"def {name}(" in (Path(__file__).parents[2] / path).read_text()


def test_the_makespan_is_the_slowest_shard_plus_a_shards_start_up() -> None:
    durations = {f"t.py::test_{n}": float(n) for n in range(1, 9)}  # 36 s in all
    spans = shards.makespans(durations, start_up=2.0)
    assert spans["1"] == 38.0
    assert 20.0 <= spans["2"] <= 2.0 + 36.0
    # More shards never make the slowest one longer than its longest test allows below.
    assert spans["8"] <= spans["4"] <= spans["2"] <= spans["1"]
    assert spans["8"] >= 2.0 + 8.0
    assert shards.makespans({}, start_up=2.0) == {}


def test_a_run_reads_back_with_its_yardstick_load_date_and_commit(tmp_path: Path) -> None:
    run = read_run(write_run(tmp_path / "pyperf.json"))
    assert run.y_seconds == pytest.approx(0.5)  # median of 0.4, 0.5, 0.5, 0.6
    assert (run.date, run.commit, run.y_samples) == ("2026-12-01", "abc1234", 4)
    assert run.y_range == (0.4, 0.6)
    assert run.load == (0.5, 1.5)
    assert "2 cores (Test CPU)" in run.machine
    suite = run.figure(f"suite, {FAST}, serial")
    assert suite is not None and suite.seconds == 21.0 and suite.runs == 2
    assert suite.command == "uv run pytest -q"


def test_the_scoreboard_judges_in_y_and_says_what_was_not_measured(tmp_path: Path) -> None:
    # Y is 0.5 s: a 21 s suite is 42 Y (within 72), a 41 s one 82 Y; 1.1 s is 2.2 Y, 2.1 s 4.2 Y.
    quick = read_run(write_run(tmp_path / "quick.json", suite_s=20.0, one_s=1.0))
    slow = read_run(write_run(tmp_path / "slow.json", suite_s=40.0, one_s=2.0))
    assert [target.met for target in report.scoreboard(quick)][:2] == [True, True]
    assert [target.met for target in report.scoreboard(slow)][:2] == [False, False]
    # No parity engine was timed in these runs: its target is not judged, and says so.
    assert all(target.met is None for target in report.scoreboard(quick)[2:])
    assert "not measured" in report.scoreboard_text(quick).splitlines()[-1]


def test_every_figure_on_the_page_carries_its_run(tmp_path: Path) -> None:
    output = write_run(tmp_path / "pyperf.json")
    makespans = {"PostgreSQL": {"1": 30.0, "2": 16.0}}
    write_record(tmp_path / "record.json", makespans, "abc1234", [f"one test, {FAST}"])
    run = read_run(output, tmp_path / "record.json")
    section = report.markdown(run)
    table = [line for line in section.splitlines() if line.startswith("| ") and "---" not in line]
    assert len(table) == 1 + 2 + 2  # the headers, two figures, two makespans
    for row in table[1:]:
        assert row.rstrip(" |").endswith("2026-12-01, abc1234"), row
    assert "(lowest 0.400 s, highest 0.600 s)" in section  # how much Y drifted in the run
    assert "Y** = 0.500 s" in section and "commit `abc1234`" in section
    assert "MISSED" not in section and "target" not in section.lower()
    assert f"one test, {FAST} (some tests failed in it)" in section


def test_the_page_keeps_what_is_outside_the_generated_section(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(f"intro\n\n{report.DOCS_START}\nold\n{report.DOCS_END}\n\noutro\n")
    report.update_page(page, f"{report.DOCS_START}\nnew\n{report.DOCS_END}\n")
    assert page.read_text() == f"intro\n\n{report.DOCS_START}\nnew\n{report.DOCS_END}\n\noutro\n"
    page.write_text("no markers")
    with pytest.raises(ValueError, match="no <!-- bench -->"):
        report.update_page(page, "x")


def _junit(path: Path, cases: dict[str, float], skipped: tuple[str, ...] = ()) -> Path:
    """A JUnit file as pytest writes it: one testcase per test, a skipped one marked so."""
    rows = []
    for name, seconds in cases.items():
        module, _, test = name.partition("::")
        skip = (
            '<skipped type="pytest.skip" message="other engine only"/>' if name in skipped else ""
        )
        rows.append(
            f'<testcase classname="{module}" name="{test}" time="{seconds}">{skip}</testcase>'
        )
    path.write_text(
        f'<testsuites><testsuite name="pytest">{"".join(rows)}</testsuite></testsuites>'
    )
    return path


def test_the_engines_are_compared_on_the_tests_both_ran(tmp_path: Path) -> None:
    fast = _junit(
        tmp_path / "fast.xml",
        {"t::test_a": 1.0, "t::test_b": 2.0, "t::test_fast_only": 0.5, "t::test_pg_only": 0.01},
        skipped=("t::test_pg_only",),
    )
    parity = _junit(
        tmp_path / "parity.xml",
        {"t::test_a": 1.5, "t::test_b": 2.5, "t::test_pg_only": 4.0, "t::test_fast_only": 0.0},
        skipped=("t::test_fast_only",),
    )
    shared = junit.compare(junit.test_times(fast), junit.test_times(parity))
    assert shared is not None
    assert (shared.tests, shared.fast_seconds, shared.parity_seconds) == (2, 3.0, 4.0)
    assert shared.ratio == pytest.approx(4 / 3)
    assert (shared.fast_only, shared.parity_only) == ((1, 0.5), (1, 4.0))
    assert junit.compare({"t::x": 1.0}, {"t::y": 1.0}) is None  # nothing in common: no ratio


def test_the_comparison_is_kept_with_the_run_and_printed_beside_the_target(tmp_path: Path) -> None:
    output = write_run(tmp_path / "pyperf.json")
    shared = {"PostgreSQL": junit.Shared(929, 53.6, 69.0, (6, 1.0), (39, 11.3))}
    write_record(tmp_path / "record.json", {}, "abc1234", [], shared)
    run = read_run(output, tmp_path / "record.json")  # what --report-only reads back
    assert run.shared == shared
    assert "PostgreSQL on the 929 tests both engines ran: 1.29x" in report.scoreboard_text(run)
    section = report.markdown(run)
    assert "add up to 53.6 s on " in section and "69.0 s on PostgreSQL: 1.29x" in section
    assert "39 tests of its own (11.3 s)" in section


def _first_figure(kind: str) -> plan.Figure:
    return next(figure for figure in plan.figures("uv") if figure.kind == kind)


def test_a_suite_run_writes_its_junit_and_own_cpu_files_and_times_the_command_as_typed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bench_main, "LOGS", tmp_path / "logs")
    monkeypatch.setattr(bench_main, "JUNIT", tmp_path / "junit")
    monkeypatch.setattr(bench_main, "OWN_CPU", tmp_path / "own-cpu")
    suite, one = _first_figure(plan.SUITE), _first_figure(plan.ONE)
    command = bench_main.logged(suite)
    assert command[-len(suite.command) :] == list(suite.command)
    script = command[2]
    assert f"PYTEST_ADDOPTS='--junitxml={tmp_path}/junit/suite-" in script
    assert f"-p {own_cpu.PLUGIN}" in script
    assert f"{own_cpu.FILE_ENV}={bench_main.own_cpu_of(suite.name)}" in script
    one_script = bench_main.logged(one)[2]
    assert "junitxml" not in one_script and own_cpu.FILE_ENV not in one_script


def test_only_the_suites_this_run_timed_are_compared(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bench_main, "JUNIT", tmp_path)
    fast, parity = f"suite, {FAST}, serial", f"suite, {ENGINES['postgres'].label}, serial"
    for name in (fast, parity):  # left by an earlier run, say
        _junit(bench_main.junit_of(name), {"t::test_a": 1.0})
    assert bench_main.compare_engines([f"one test, {FAST}"]) == {}  # `--only "one test"`
    compared = bench_main.compare_engines([fast, parity])
    assert compared[ENGINES["postgres"].label].tests == 1


def test_the_report_gives_a_suite_runs_own_process_cpu_in_y(tmp_path: Path) -> None:
    output = write_run(tmp_path / "pyperf.json", suite_s=20.0)
    measured = {f"suite, {FAST}, serial": own_cpu.OwnCpu(own_seconds=11.0, children_seconds=4.5)}
    write_record(tmp_path / "record.json", {}, "abc1234", [], None, measured)
    run = read_run(output, tmp_path / "record.json")  # what --report-only reads back
    assert run.own_cpu == measured
    y = run.in_y(11.0)
    assert f"its own process used 11.0 CPU-s = {y:.1f} Y" in report.scoreboard_text(run)
    assert f"11.0 CPU-s ({y:.1f} Y) in its own process, 4.5 CPU-s" in report.markdown(run)


def test_the_own_cpu_plugin_writes_what_the_run_used(
    pytester: pytest.Pytester, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(test_spin="def test_spin():\n    sum(i * i for i in range(300_000))\n")
    target = tmp_path / "cpu.json"
    monkeypatch.setenv(own_cpu.FILE_ENV, str(target))
    # The plugin alone: loading every installed plugin would cost this run 2 s of imports
    # (pytester forgets, after each run, the modules it imported).
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    before = own_cpu.measured_now()
    result = pytester.runpytest_inprocess("-p", own_cpu.PLUGIN, "-q")
    result.assert_outcomes(passed=1)
    written = own_cpu.read(target)
    assert written is not None
    # The process's counters at the end of the inner run: at least what they were before it.
    assert written.own_seconds > before.own_seconds
    assert written.children_seconds >= before.children_seconds
    assert own_cpu.read(tmp_path / "never-written.json") is None


@pytest.mark.parametrize(
    "argv", [["-o", "elsewhere/run.json"], ["--output", "elsewhere/run.json"],
             ["--processes", "1", "--output=elsewhere/run.json"]],
)  # fmt: skip
def test_the_output_file_is_found_however_pyperfs_option_is_spelt(argv: list[str]) -> None:
    # Its folder is made before pyperf writes there: `-o` was once missed and pyperf then failed.
    assert bench_main._output_argument(argv) == Path("elsewhere/run.json")
    assert bench_main._output_argument(["--processes", "1"]) == bench_main.OUTPUT
