# The generic harness (pytest-dbharness: engines, isolation, the app and a client) loads through its
# entry point; these are this app's own fixtures.
pytest_plugins = [
    "backend.tests.fixtures.clients",
    "backend.tests.fixtures.users",
    "backend.tests.fixtures.contexts",
    "backend.tests.fixtures.live",
    "backend.tests.fixtures.hashing",
    # The harness's self-tests run inner pytest sessions in-process.
    "pytester",
]
