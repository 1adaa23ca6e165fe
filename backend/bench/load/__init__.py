"""Load figures for a real server: ``python -m backend.bench.load`` (the ``load`` nox session).

``servers`` launches ``backend serve`` and the database behind it; ``traffic`` is the workload.
"""
