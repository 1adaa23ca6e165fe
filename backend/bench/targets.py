"""The issue's targets, judged on the median figures, and where the time goes when one is missed."""

from __future__ import annotations

from dataclasses import dataclass

from backend.bench.everyday import Everyday
from backend.bench.measuring import IMPORT_SEGMENTS, WORKERS_START, Figures
from backend.bench.running import RunSpec

ISOLATION_LIMIT_MS = 1.2
DATABASE_PER_TEST_FACTOR = 50.0
SUITE_RATIO_LIMIT = 1.5
FIRST_TEST_LIMITS_S = {("postgres", True): 1.5, ("postgres", False): 1.0, ("sqlite", False): 0.5}
XDIST_WORKERS = 2

Summaries = dict[RunSpec, Figures]


@dataclass(frozen=True)
class Target:
    name: str
    measured: str
    # None: the runs it needs were not made (--quick, --engines).
    met: bool | None
    # When missed: where the time goes, from the measurements.
    where: tuple[str, ...] = ()


def ours(engine: str, workers: int = 0, cold: bool = False) -> RunSpec:
    return RunSpec(engine=engine, workers=workers, cold=cold)


def _not_measured(name: str, why: str) -> Target:
    return Target(name=name, measured=f"not measured ({why})", met=None)


def _split(figures: Figures) -> str:
    steps = sorted(figures.isolation_split_ms.items(), key=lambda item: item[1], reverse=True)
    return ", ".join(f"{step} {ms:.2f} ms" for step, ms in steps)


def isolation_target(summaries: Summaries) -> Target:
    name = f"PostgreSQL isolation per test, median ≤ {ISOLATION_LIMIT_MS:g} ms (serial, warm)"
    mine = summaries.get(ours("postgres"))
    if mine is None or mine.isolation_ms is None:
        return _not_measured(name, "no serial warm PostgreSQL run")
    met = mine.isolation_ms <= ISOLATION_LIMIT_MS
    where = () if met else (f"per test (medians): {_split(mine)}",)
    return Target(name, f"{mine.isolation_ms:.2f} ms", met, where)


def database_per_test_target(summaries: Summaries) -> Target:
    name = f"PostgreSQL isolation ≥ {DATABASE_PER_TEST_FACTOR:g}x cheaper than a database per test"
    mine = summaries.get(ours("postgres"))
    ref = summaries.get(RunSpec("postgres", strategy="database-per-test"))
    if not (mine and ref and mine.isolation_ms and ref.isolation_ms):
        return _not_measured(name, "needs PostgreSQL runs of both strategies")
    factor = ref.isolation_ms / mine.isolation_ms
    met = factor >= DATABASE_PER_TEST_FACTOR
    where: tuple[str, ...] = ()
    if not met:
        where = (
            f"database per test {ref.isolation_ms:.1f} ms: {_split(ref)}",
            f"ours {mine.isolation_ms:.2f} ms: {_split(mine)}",
            f"{DATABASE_PER_TEST_FACTOR:g}x would need ours ≤ "
            f"{ref.isolation_ms / DATABASE_PER_TEST_FACTOR:.2f} ms or a reference ≥ "
            f"{mine.isolation_ms * DATABASE_PER_TEST_FACTOR:.0f} ms on this machine",
        )
    return Target(
        name, f"{factor:.0f}x ({ref.isolation_ms:.1f} ms vs {mine.isolation_ms:.2f} ms)", met, where
    )


def _suite_gap(pg: Figures, lite: Figures) -> tuple[str, ...]:
    parts = [
        ("to the first test", (pg.to_first_test or 0) - (lite.to_first_test or 0)),
        ("inside tests", pg.test_seconds - lite.test_seconds),
        ("after the last test", sum(pg.ending.values()) - sum(lite.ending.values())),
    ]
    modules = {
        module: seconds - lite.module_seconds.get(module, 0.0)
        for module, seconds in pg.module_seconds.items()
    }
    worst = sorted(modules.items(), key=lambda item: item[1], reverse=True)[:4]
    return (
        f"PostgreSQL takes {pg.wall - lite.wall:+.1f} s: "
        + ", ".join(f"{label} {seconds:+.1f} s" for label, seconds in parts),
        "modules that grow most: " + ", ".join(f"{m} {s:+.1f} s" for m, s in worst),
    )


def suite_ratio_targets(summaries: Summaries) -> list[Target]:
    targets = []
    for workers in (0, XDIST_WORKERS):
        for cold in (False, True):
            pg = summaries.get(ours("postgres", workers, cold))
            lite = summaries.get(ours("sqlite", workers, cold))
            spec = ours("postgres", workers, cold)
            name = f"PostgreSQL suite ≤ {SUITE_RATIO_LIMIT:g}x SQLite ({spec.mode}, {spec.cache})"
            if pg is None or lite is None:
                continue
            ratio = pg.wall / lite.wall
            met = ratio <= SUITE_RATIO_LIMIT
            measured = f"{ratio:.2f}x ({pg.wall:.1f} s vs {lite.wall:.1f} s)"
            targets.append(Target(name, measured, met, () if met else _suite_gap(pg, lite)))
    return targets or [_not_measured("PostgreSQL suite ≤ 1.5x SQLite", "needs both engines")]


def _first_test_where(figures: Figures) -> tuple[str, ...]:
    steps = {**figures.phases, "clone": figures.clone_s or 0.0}
    ranked = sorted(steps.items(), key=lambda item: item[1], reverse=True)
    return ("harness phases: " + ", ".join(f"{name} {s:.2f} s" for name, s in ranked),)


def first_test_targets(summaries: Summaries) -> list[Target]:
    targets = []
    for (engine, cold), limit in FIRST_TEST_LIMITS_S.items():
        for workers in (0, XDIST_WORKERS):
            spec = ours(engine, workers, cold)
            name = f"{engine} time to the first test ≤ {limit:g} s ({spec.mode}, {spec.cache})"
            figures = summaries.get(spec)
            if figures is None:
                if workers == 0:
                    targets.append(_not_measured(name, "no such run"))
                continue
            met = figures.harness_s <= limit
            imports = sum(figures.segments.get(name, 0.0) for name in IMPORT_SEGMENTS)
            measured = (
                f"harness {figures.harness_s:.2f} s; whole process {figures.to_first_test or 0:.2f} s"
                f", of which imports and plugin loading {imports:.2f} s"
            )
            targets.append(Target(name, measured, met, () if met else _first_test_where(figures)))
    return targets


def _xdist_where(serial: Figures, parallel: Figures) -> tuple[str, ...]:
    workers_start = parallel.segments.get(WORKERS_START, 0.0)
    slowdown = parallel.test_seconds / serial.test_seconds if serial.test_seconds else 0.0
    return (
        f"to the first test {(parallel.to_first_test or 0) - (serial.to_first_test or 0):+.2f} s "
        f"(xdist workers start, import and configure: {workers_start:.2f} s)",
        f"inside tests {serial.test_seconds:.1f} s serially, {parallel.test_seconds:.1f} s summed "
        f"over {XDIST_WORKERS} workers ({parallel.test_seconds / XDIST_WORKERS:.1f} s each if "
        f"balanced): each test took {slowdown:.2f}x as long with {XDIST_WORKERS} running at once",
        f"after the last test {sum(parallel.ending.values()) - sum(serial.ending.values()):+.2f} s",
    )


def xdist_targets(summaries: Summaries, engines: tuple[str, ...]) -> list[Target]:
    targets = []
    for engine in engines:
        for cold in (False, True):
            serial = summaries.get(ours(engine, 0, cold))
            parallel = summaries.get(ours(engine, XDIST_WORKERS, cold))
            name = f"{engine} suite faster with -n {XDIST_WORKERS} than serial ({'cold' if cold else 'warm'})"
            if serial is None or parallel is None:
                targets.append(_not_measured(name, "needs serial and -n 2 runs"))
                continue
            met = parallel.wall < serial.wall
            measured = f"{parallel.wall:.1f} s vs {serial.wall:.1f} s serial"
            where = () if met else _xdist_where(serial, parallel)
            targets.append(Target(name, measured, met, where))
    return targets


# Issue 14's targets: what a developer waits for (everyday.py), and SQLite's isolation.
SUITE_LIMITS_S = {
    ("sqlite", 0): 30.0,
    ("sqlite", XDIST_WORKERS): 20.0,
    ("postgres", XDIST_WORKERS): 30.0,
}
ONE_TEST_LIMITS_S = {"sqlite": 1.5, "postgres": 1.8}
SQLITE_ISOLATION_LIMIT_MS = 0.4
TYPICAL_RATIO_LIMIT = 0.6


def _limit(name: str, value: float | None, limit: float, unit: str) -> Target:
    if value is None:
        return _not_measured(name, "no such run")
    return Target(name, f"{value:.2f} {unit}", value <= limit)


def everyday_targets(everyday: Everyday | None, summaries: Summaries) -> list[Target]:
    lite = summaries.get(ours("sqlite"))
    targets = [
        _limit(f"SQLite isolation per test ≤ {SQLITE_ISOLATION_LIMIT_MS:g} ms (serial, warm)",
               lite.isolation_ms if lite else None, SQLITE_ISOLATION_LIMIT_MS, "ms"),
    ]  # fmt: skip
    if everyday is None:
        return [*targets, _not_measured("the everyday figures", "not measured (--skip-everyday)")]
    for (engine, workers), limit in SUITE_LIMITS_S.items():
        runs = everyday.suite_n2_s if workers else everyday.suite_s
        mode = f"-n {workers}" if workers else "serial"
        name = f"{engine} whole suite, everything, {mode} ≤ {limit:g} s"
        targets.append(_limit(name, runs.get(engine), limit, "s"))
    for engine, limit in ONE_TEST_LIMITS_S.items():
        name = f"{engine} one test, whole process, warm ≤ {limit:g} s"
        targets.append(_limit(name, everyday.one_test_s.get(engine), limit, "s"))
    lite_ms, pg_ms = everyday.typical_ms.get("sqlite"), everyday.typical_ms.get("postgres")
    name = f"typical API test on SQLite ≤ {TYPICAL_RATIO_LIMIT:g}x PostgreSQL (same bench run)"
    if lite_ms is None or pg_ms is None:
        targets.append(_not_measured(name, "needs both engines"))
    else:
        ratio = lite_ms / pg_ms
        measured = f"{ratio:.2f}x ({lite_ms:.2f} ms vs {pg_ms:.2f} ms)"
        targets.append(Target(name, measured, ratio <= TYPICAL_RATIO_LIMIT))
    pg_s, lite_s = everyday.suite_s.get("postgres"), everyday.suite_s.get("sqlite")
    if pg_s and lite_s:
        name = f"PostgreSQL whole suite ≤ {SUITE_RATIO_LIMIT:g}x SQLite (everything, serial)"
        ratio = pg_s / lite_s
        targets.append(Target(name, f"{ratio:.2f}x", ratio <= SUITE_RATIO_LIMIT))
    return targets


def evaluate(
    summaries: Summaries, engines: tuple[str, ...], everyday: Everyday | None = None
) -> list[Target]:
    return [
        *everyday_targets(everyday, summaries),
        isolation_target(summaries),
        database_per_test_target(summaries),
        *suite_ratio_targets(summaries),
        *first_test_targets(summaries),
        *xdist_targets(summaries, engines),
    ]
