import sys
import types
from typing import Any


def _defer_httpx_command_line() -> None:
    """httpx imports its command-line client whenever click, pygments and rich are installed (as
    uvicorn, typer and schemathesis have them here): about 40 ms of every test process, for a
    client the tests do not use. Until ``httpx.main`` is first called, a stand-in takes its module's
    place; the call imports the real one and runs it."""
    if "httpx" in sys.modules:  # too late: it has been imported already
        return

    stand_in = types.ModuleType("httpx._main", "httpx's command-line client, imported on use")

    def main(*args: Any, **kwargs: Any) -> Any:
        if sys.modules.get("httpx._main") is stand_in:
            del sys.modules["httpx._main"]
        from httpx._main import main as real_main  # the deferred import

        return real_main(*args, **kwargs)

    setattr(stand_in, "main", main)  # noqa: B010 - a module's attribute, set as it is built
    sys.modules.setdefault("httpx._main", stand_in)


_defer_httpx_command_line()

# The generic harness (pytest-dbharness: engines, isolation, the app and a client) loads through its
# entry point; these are this app's own fixtures.
pytest_plugins = [
    # What the tests further on will wait on, started at a serial run's first test (first here:
    # the other fixture modules import it, and pytest rewrites only what it imports itself).
    "backend.tests.fixtures.head_start",
    "backend.tests.fixtures.clients",
    "backend.tests.fixtures.users",
    "backend.tests.fixtures.contexts",
    "backend.tests.fixtures.live",
    "backend.tests.fixtures.hashing",
    # The harness's self-tests run inner pytest sessions in-process.
    "pytester",
]
