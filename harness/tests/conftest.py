"""pytest-dbharness's own tests: runs of a second project (sample_project/) and of small inner
projects under the plugin. This outer run names no harness_project, so the plugin is inert in it."""

pytest_plugins = ["pytester"]

# The second project's tests run in runs of their own (test_second_project.py), never in this one.
collect_ignore = ["sample_project"]
