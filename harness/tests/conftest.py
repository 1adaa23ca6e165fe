"""pytest-dbharness's own tests: runs of a second project (sample_project/) and of small inner
projects under the plugin. This outer run names no harness_project, so the plugin is inert in it."""

pytest_plugins = ["pytester"]
