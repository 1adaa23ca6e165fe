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
