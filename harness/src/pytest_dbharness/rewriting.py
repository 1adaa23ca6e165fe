"""Assertion rewriting for the project's tests and fixtures only, not for plugin distributions'.

pytest rewrites the asserts of every module of every distribution that ships a pytest plugin
(anyio, platformdirs, pytest-asyncio, xdist, Hypothesis, schemathesis, this harness, …) whenever
one is imported, and with ``PYTHONDONTWRITEBYTECODE=1`` nothing of it is cached: measured here,
0.10 s for this harness's own modules and 0.05 s for anyio's in every process, and seconds for the
fuzzer's libraries. Their asserts are their internals; rewriting only improves the message when
one of them fails. The project's test modules, conftest files and the fixture modules they name in
``pytest_plugins`` are rewritten as pytest always does.
"""

from __future__ import annotations

import sys
from typing import Any

# This harness's own package, which pytest would mark again whenever a ``pytest_plugins`` line or a
# ``-p`` option names one of its modules (the plugin registers its own, ``SUBPLUGINS``, unmarked).
OWN_PACKAGE = __name__.partition(".")[0]


def rewrite_only_the_projects() -> None:
    """Forget the distributions pytest marked, and leave this harness's modules unmarked.

    Called first thing when the plugin is imported. It uses the rewriting hook's record of marked
    names (a private attribute of pytest) and wraps its public ``mark_rewrite``: where a pytest
    release lacks them, nothing changes and everything still works, only slower.
    """
    for hook in sys.meta_path:
        marked = getattr(hook, "_must_rewrite", None)
        if type(hook).__name__ == "AssertionRewritingHook" and isinstance(marked, set):
            marked.clear()
            _leave_own_modules_unmarked(hook)


def _leave_own_modules_unmarked(hook: Any) -> None:
    mark_rewrite = hook.mark_rewrite

    def mark_the_projects(*names: str) -> None:
        mark_rewrite(*(name for name in names if name.partition(".")[0] != OWN_PACKAGE))

    hook.mark_rewrite = mark_the_projects
