"""Fixtures for the complaints service: an app on SQLite with a controlled clock, and a few
builders (clients known from registry events, complaints opened and driven over HTTP)."""
from __future__ import annotations

import pytest

from services.complaints.app import build_context, create_app
from shared.migrations import upgrade
from tests.complaints.complaints_helpers import START, Clock, ComplaintsApi


@pytest.fixture
def clock() -> Clock:
    return Clock(START)


@pytest.fixture
def complaints_ctx(settings, clock):
    upgrade("complaints", settings.database_url("complaints"))
    ctx = build_context(settings, clock=clock)
    yield ctx
    ctx.database.dispose()


@pytest.fixture
def complaints_app(complaints_ctx):
    return create_app(context=complaints_ctx)


@pytest.fixture
def api(complaints_app, complaints_ctx, tokens) -> ComplaintsApi:
    return ComplaintsApi(complaints_app.test_client(), complaints_ctx, tokens)
