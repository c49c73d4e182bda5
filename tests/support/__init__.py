"""Helpers that run parts of the production topology for tests (the nginx gateway)."""
