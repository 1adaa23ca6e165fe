"""contexts domain."""
