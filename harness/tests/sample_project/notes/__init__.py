"""A small notes service: the second project pytest-dbharness's own tests run."""
