"""Helpers only the tests use (tests/ is on the path: pytest inserts the folder of the root conftest.py)."""
