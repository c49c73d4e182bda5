"""Registry console fixtures: a test client signed in with a role."""
from __future__ import annotations

import pytest

from tests.support.console import console_client


@pytest.fixture
def console_as(registry_app, tokens):
    """``console_as("staff", language="en")``: a test client signed in with that role."""
    def signed_in(role: str = "staff", *, language: str = "en"):
        return console_client(registry_app, tokens[role], language=language)
    return signed_in
