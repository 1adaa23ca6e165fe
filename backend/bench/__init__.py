"""The speed-versus-parity benchmark: ``python -m backend.bench`` (the ``bench`` nox session).

It times the project's own suite on each engine, serial and with ``-n 2``, cold and warm, and under
two reference isolation strategies, then prints one table, the targets met or missed, a JSON file
and a chart. ``running`` launches the measured pytest processes, ``probe`` and ``strategies`` are
the pytest plugins those processes load, ``measuring`` turns what they recorded into figures, and
``reporting``, ``targets`` and ``chart`` show them.
"""
