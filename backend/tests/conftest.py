# The generic harness (engines, isolation, the app and a client), then this app's own fixtures.
pytest_plugins = [
    "backend.testing.plugin",
    "backend.tests.fixtures.clients",
    "backend.tests.fixtures.users",
    "backend.tests.fixtures.contexts",
]
