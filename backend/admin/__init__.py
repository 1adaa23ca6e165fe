"""Staff-facing user administration: listing, creating, (de)activating and promoting users."""
