"""The survey service in-process on SQLite, with a clock tests can move."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from services.survey.app import build_context, create_app
from shared.migrations import upgrade
from tests.conftest import auth


class Clock:
    """Real time by default; ``advance`` moves it forward for expiry tests."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(timezone.utc) + self.offset

    def advance(self, **delta: float) -> None:
        self.offset += timedelta(**delta)


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def survey_settings(settings):
    return settings.with_overrides(ratelimit_public="1000 per minute")


@pytest.fixture
def survey_ctx(survey_settings, clock):
    upgrade("survey", survey_settings.database_url("survey"))
    ctx = build_context(survey_settings, clock=clock)
    yield ctx
    ctx.extras["delivery_worker"].stop()
    ctx.database.dispose()


@pytest.fixture
def survey_app(survey_ctx):
    return create_app(context=survey_ctx)


@pytest.fixture
def http(survey_app):
    return survey_app.test_client()


@pytest.fixture
def staff(tokens):
    return auth(tokens["staff"])


@pytest.fixture
def analyst(tokens):
    return auth(tokens["analyst"])
