"""Login with a username and password, bearer tokens, and the current-user dependencies."""
