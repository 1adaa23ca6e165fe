"""Assertion rewriting for this project's modules only, not for every plugin distribution's.

pytest rewrites the asserts of every module of every distribution that ships a pytest plugin
(anyio, platformdirs, pytest-asyncio, xdist, Hypothesis, schemathesis, …) whenever one is imported,
and with ``PYTHONDONTWRITEBYTECODE=1`` nothing of it is cached: about 0.17 s of CPU in every
process here, and seconds for the fuzzer's libraries. Their asserts are their internals; rewriting
only improves the message when one of them fails.
"""

from __future__ import annotations

import sys

# The package this harness lives in (``backend``), wherever the folder is copied.
OWN_PACKAGE = __name__.partition(".")[0]


def rewrite_only_our_own() -> None:
    """Forget the other distributions pytest marked; called when the harness plugin is imported.

    It uses the rewriting hook's record of marked names (a private attribute of pytest): where a
    pytest release lacks it, nothing changes and everything still works, only slower.
    """
    for hook in sys.meta_path:
        marked = getattr(hook, "_must_rewrite", None)
        if type(hook).__name__ == "AssertionRewritingHook" and isinstance(marked, set):
            marked.intersection_update(
                {name for name in marked if name.partition(".")[0] == OWN_PACKAGE}
            )
