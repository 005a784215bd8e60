"""The three independent gradient sources."""
