"""Load figures for a real server: ``python -m backend.bench.load`` (the ``load`` nox session).

``servers`` launches ``backend serve`` and the database behind it; ``locustfile`` is the workload
locust drives; ``edges`` measures the edge limits.
"""
