"""Complaints console fixtures: test clients signed in with a role, on the complaints app of
``tests/complaints/conftest.py`` (SQLite, a controlled clock)."""
from __future__ import annotations

import pytest

from tests.support.console import console_client


@pytest.fixture
def console_as(complaints_app, tokens):
    """``console_as("staff", language="en")``: a test client signed in with that role."""
    def signed_in(role: str = "staff", *, language: str = "en"):
        return console_client(complaints_app, tokens[role], language=language)
    return signed_in


@pytest.fixture
def staff(console_as):
    return console_as("staff")


@pytest.fixture
def analyst(console_as):
    return console_as("analyst")
