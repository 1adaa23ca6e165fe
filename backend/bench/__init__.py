"""The speed-versus-parity benchmark: ``python -m backend.bench`` (``nox -s bench``).

It times the commands a developer types (one test, each engine's suite serially, the parity lane,
an empty shard's start-up) with pyperf, beside a CPU yardstick (Y), and publishes one run:
``plan`` says what is timed, ``__main__`` runs it, ``results`` reads pyperf's file and the run's
record back, ``junit`` compares the engines on the tests both ran, ``own_cpu`` is the plugin that
measures a suite run's own process, ``shards`` simulates the shards' makespan, and ``report``
prints the table and the scoreboard and writes ``docs/speed-or-parity.md``'s measured section.
``test_isolation_cost.py`` is a benchmark of its own, run on demand, and ``load`` is the locust
load run (``nox -s load``).
"""
