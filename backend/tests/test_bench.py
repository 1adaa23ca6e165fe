"""The benchmark's own logic on fixed inputs: parsing, medians, ratios, targets, the docs section.

No timing is asserted here; these check that given figures are read, combined and judged right.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from backend.bench.everyday import Everyday, _typical_ms
from backend.bench.imports import summarise_importtime, top_packages
from backend.bench.measuring import (
    Figures,
    combine,
    first_test_segments,
    isolation_per_test,
    parse_server,
    parse_startup_phases,
)
from backend.bench.reporting import DOCS_END, DOCS_START, everyday_rows, update_docs_page
from backend.bench.running import RunSpec, header_lines
from backend.bench.suite import HARNESS_TESTS, TESTS_DIR, why_excluded
from backend.bench.targets import (
    database_per_test_target,
    everyday_targets,
    first_test_targets,
    isolation_target,
    suite_ratio_targets,
    xdist_targets,
)

PYTEST_OUTPUT = """\
============================= test session starts ==============================
platform linux -- Python 3.11.7, pytest-9.2.0, pluggy-1.7.0
database: postgres, PostgreSQL 15.18 (Debian 15.18-0+deb12u1)
database server: launched with /usr/lib/postgresql/15/bin/pg_ctl (system), running as postgres
database schema: revision e71f0a9b3c35, cache hit
database start-up: restore cluster 0.10s, server start 0.06s
rootdir: /work/main
collected 3 items

database: not a header line, a test's output
"""
PG = RunSpec("postgres")
LITE = RunSpec("sqlite")


def figures(spec: RunSpec, **values: object) -> Figures:
    wall = float(values.pop("wall", 10.0))  # type: ignore[arg-type]
    return Figures(spec=spec, runs=1, wall=wall, walls=[wall], **values)  # type: ignore[arg-type]


def test_the_harness_header_is_found_and_its_phases_read() -> None:
    header = header_lines(PYTEST_OUTPUT)
    assert len(header) == 4
    assert parse_startup_phases(header) == {"restore cluster": 0.10, "server start": 0.06}
    assert parse_server(header) == "PostgreSQL 15.18 (Debian 15.18-0+deb12u1)"


def test_a_start_up_with_nothing_to_do_has_no_phases_and_a_missing_line_is_an_error() -> None:
    assert parse_startup_phases(["database start-up: nothing to do"]) == {}
    assert parse_startup_phases(["database start-up: initdb + server start 0.49s"]) == {
        "initdb + server start": 0.49
    }
    with pytest.raises(ValueError, match="no 'database start-up:' line"):
        parse_startup_phases(["database: sqlite"])


def test_server_and_schema_phases_are_told_apart_and_the_clone_counts_toward_start_up() -> None:
    cold = figures(
        PG,
        phases={"initdb + server start": 0.5, "migrations": 0.1, "cache cluster": 0.3},
        clone_s=0.02,
    )
    assert cold.server_s == 0.5
    assert cold.schema_s == pytest.approx(0.4)
    assert cold.harness_s == pytest.approx(0.92)


def test_isolation_counts_set_up_and_teardown_of_passed_tests_that_use_db_session() -> None:
    tests = [
        {"uses_db_session": True, "outcome": "passed",
         "fixtures": {"db_sessionmaker": [0.0003, 0.0004], "db_session": [0.0001, 0.0002]}},
        {"uses_db_session": True, "outcome": "failed", "fixtures": {"db_session": [1.0, 1.0]}},
        {"uses_db_session": False, "outcome": "passed", "fixtures": {"db_session": [1.0, 1.0]}},
    ]  # fmt: skip
    assert isolation_per_test(tests) == [pytest.approx(1.0)]


def test_runs_of_one_spec_combine_into_medians() -> None:
    runs = [
        figures(PG, wall=wall, isolation_ms=iso, phases={"server start": start})
        for wall, iso, start in [(30.0, 0.9, 0.06), (90.0, 0.7, 0.08), (31.0, 5.0, 0.07)]
    ]
    combined = combine(runs)
    assert combined.runs == 3
    assert combined.wall == 31.0
    assert combined.walls == [30.0, 90.0, 31.0]
    assert combined.isolation_ms == 0.9
    assert combined.phases == {"server start": 0.07}


def probe(role: str, **marks: float) -> dict[str, object]:
    return {"role": role, "marks": marks, "session_fixtures": {"database_url": 0.03}, "tests": []}


def test_the_time_to_the_first_test_is_split_in_order_and_adds_up() -> None:
    serial = probe("single", imported=101.0, configure_started=102.0, configured=102.5,
                   collected=103.0, first_call=103.25)  # fmt: skip
    segments, first = first_test_segments(100.0, [serial])
    assert list(segments.values()) == [1.0, 1.0, 0.5, 0.5, 0.25]
    assert sum(segments.values()) == pytest.approx(3.25)
    assert first is serial

    controller = probe("controller", imported=101.0, configure_started=102.0, configured=102.5)
    slow = probe("worker", configured=105.0, collected=105.5, first_call=106.0)
    fast = probe("worker", configured=104.0, collected=104.5, first_call=105.0)
    segments, first = first_test_segments(100.0, [controller, slow, fast])
    assert first is fast
    assert sum(segments.values()) == pytest.approx(5.0)
    assert segments["xdist workers"] == pytest.approx(1.5)


def test_importtime_output_is_summed_per_top_level_package() -> None:
    stderr = (
        "import time: self [us] | cumulative | imported package\n"
        "import time:       200 |        200 |     sqlalchemy.util\n"
        "import time:      1000 |       1200 |   sqlalchemy\n"
        "import time:       500 |        500 | backend.config\n"
        "some other line\n"
    )
    assert summarise_importtime(stderr) == pytest.approx({"sqlalchemy": 0.0012, "backend": 0.0005})
    assert top_packages({"a": 3.0, "b": 2.0, "c": 1.0, "d": 0.5}, 2) == [
        ("a", 3.0), ("b", 2.0), ("2 others", 1.5)
    ]  # fmt: skip


def test_modules_that_start_processes_are_left_out_of_the_timed_suite() -> None:
    assert why_excluded(HARNESS_TESTS / "test_runs.py", "") is not None
    assert why_excluded(TESTS_DIR / "test_x.py", "import os\nimport subprocess\n") is not None
    assert why_excluded(TESTS_DIR / "test_x.py", "from backend.tests.harness.inner import x\n")
    assert why_excluded(TESTS_DIR / "test_x.py", '"""Not import subprocess."""\n') is None


def test_isolation_targets_are_judged_on_postgres_serial_warm() -> None:
    cheap = {PG: figures(PG, isolation_ms=0.8)}
    assert isolation_target(cheap).met is True
    dear = {PG: figures(PG, isolation_ms=4.0, isolation_split_ms={"db_session setup": 3.0})}
    missed = isolation_target(dear)
    assert missed.met is False
    assert "db_session setup 3.00 ms" in missed.where[0]

    reference = RunSpec("postgres", strategy="database-per-test")
    summaries = {
        PG: figures(PG, isolation_ms=0.5),
        reference: figures(reference, isolation_ms=20.0),
    }
    assert database_per_test_target(summaries).met is False  # 40x
    summaries[reference] = figures(reference, isolation_ms=30.0)
    assert database_per_test_target(summaries).met is True  # 60x
    assert database_per_test_target({PG: figures(PG, isolation_ms=0.5)}).met is None


def test_postgres_may_take_at_most_one_and_a_half_times_sqlite() -> None:
    summaries = {PG: figures(PG, wall=15.0), LITE: figures(LITE, wall=10.0)}
    assert [t.met for t in suite_ratio_targets(summaries)] == [True]
    summaries[PG] = figures(PG, wall=15.1, module_seconds={"test_a.py": 9.0})
    (missed,) = suite_ratio_targets(summaries)
    assert missed.met is False
    assert "test_a.py +9.0 s" in missed.where[1]


def test_first_test_targets_judge_the_harness_phases_not_the_imports() -> None:
    warm = figures(
        PG, phases={"restore cluster": 0.4, "server start": 0.5}, clone_s=0.05, to_first_test=3.0
    )
    cold_spec = RunSpec("postgres", cold=True)
    cold = figures(cold_spec, phases={"initdb + server start": 1.6}, clone_s=0.05)
    results = {t.name: t for t in first_test_targets({PG: warm, cold_spec: cold})}
    assert results["postgres time to the first test ≤ 1 s (serial, warm)"].met is True
    missed = results["postgres time to the first test ≤ 1.5 s (serial, cold)"]
    assert missed.met is False
    assert missed.where == ("harness phases: initdb + server start 1.60 s, clone 0.05 s",)
    assert results["sqlite time to the first test ≤ 0.5 s (serial, warm)"].met is None


def test_everyday_targets_judge_the_issues_limits_and_the_typical_ratio() -> None:
    everyday = Everyday(
        one_test_s={"sqlite": 1.4, "postgres": 1.9},
        typical_ms={"sqlite": 3.0, "postgres": 6.0},
        suite_s={"sqlite": 29.0, "postgres": 43.0},
        suite_n2_s={"sqlite": 21.0, "postgres": 30.0},
    )
    results = {
        t.name: t for t in everyday_targets(everyday, {LITE: figures(LITE, isolation_ms=0.3)})
    }
    assert results["SQLite isolation per test ≤ 0.4 ms (serial, warm)"].met is True
    assert results["sqlite whole suite, everything, serial ≤ 30 s"].met is True
    assert results["sqlite whole suite, everything, -n 2 ≤ 20 s"].met is False
    assert results["postgres whole suite, everything, -n 2 ≤ 30 s"].met is True
    assert results["sqlite one test, whole process, warm ≤ 1.5 s"].met is True
    assert results["postgres one test, whole process, warm ≤ 1.8 s"].met is False
    typical = results["typical API test on SQLite ≤ 0.6x PostgreSQL (same bench run)"]
    assert (typical.met, typical.measured) == (True, "0.50x (3.00 ms vs 6.00 ms)")
    assert results["PostgreSQL whole suite ≤ 1.5x SQLite (everything, serial)"].met is True
    assert everyday_targets(None, {})[-1].met is None


def test_the_typical_tests_cost_leaves_out_the_first_which_sets_the_session_up(
    tmp_path: Path,
) -> None:
    times = tmp_path / "times.json"
    times.write_text("[0.9, 0.002, 0.004, 0.003]")
    assert _typical_ms(times) == pytest.approx(3.0)
    rows = everyday_rows(Everyday(typical_ms={"sqlite": 3.0, "postgres": 6.0}))
    assert rows[1][1:] == ["3.00", "6.00", "0.50x"]


def test_two_workers_must_beat_serial_on_each_engine() -> None:
    parallel = RunSpec("sqlite", workers=2)
    summaries = {
        LITE: figures(LITE, wall=20.0, test_seconds=18.0),
        parallel: figures(parallel, wall=21.0, test_seconds=30.0),
    }
    warm, cold = xdist_targets(summaries, ("sqlite",))
    assert warm.met is False
    assert "each test took 1.67x as long" in warm.where[1]
    assert cold.met is None


def test_the_docs_section_is_replaced_between_the_markers_and_the_rest_kept(
    tmp_path: Path,
) -> None:
    page = tmp_path / "page.md"
    page.write_text(f"# Title\n\n{DOCS_START}\n\n## After\n")
    update_docs_page(page, "first table\n")
    assert page.read_text() == f"# Title\n\n{DOCS_START}\n\nfirst table\n\n{DOCS_END}\n\n## After\n"
    update_docs_page(page, "second table\n")
    assert (
        page.read_text() == f"# Title\n\n{DOCS_START}\n\nsecond table\n\n{DOCS_END}\n\n## After\n"
    )
