"""The survey service in-process on SQLite with its staff console, and a signed-in browser
stand-in (Flask's test client) per role."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest

from services.survey.app import build_context, create_app
from shared.migrations import upgrade
from tests.conftest import auth, make_token

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


class Clock:
    """Real time by default; ``advance`` moves it forward."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(timezone.utc) + self.offset

    def advance(self, **delta: float) -> None:
        self.offset += timedelta(**delta)


class Console:
    """One signed-in browser: the session cookie in the test client, the CSRF token of its
    pages at hand."""

    def __init__(self, app, token: str, language: str = "en") -> None:
        self.http = app.test_client()
        self.headers = {"Accept-Language": language}
        signed_in = self.http.post("/console/sign-in", data={"token": token},
                                   headers=self.headers)
        assert signed_in.status_code == 303, signed_in.get_data(as_text=True)
        self._csrf: str | None = None

    @property
    def csrf(self) -> str:
        if self._csrf is None:
            self._csrf = CSRF.search(self.page("/console/")).group(1)
        return self._csrf

    def get(self, path: str, *, headers: dict | None = None, **kwargs):
        return self.http.get(path, headers={**self.headers, **(headers or {})}, **kwargs)

    def page(self, path: str, status: int = 200) -> str:
        response = self.get(path)
        text = response.get_data(as_text=True)
        assert response.status_code == status, text
        return text

    def post(self, path: str, data: dict | list | None = None, *, csrf: bool = True,
             headers: dict | None = None, **kwargs):
        fields = list(data.items()) if isinstance(data, dict) else list(data or [])
        if csrf:
            fields.append(("csrf_token", self.csrf))
        return self.http.post(path, data=_multidict(fields),
                              headers={**self.headers, **(headers or {})}, **kwargs)


def _multidict(fields):
    from werkzeug.datastructures import MultiDict
    values = MultiDict()
    for name, value in fields:
        for one in value if isinstance(value, (list, tuple)) else [value]:
            values.add(name, one)
    return values


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def survey_ctx(settings, clock):
    configured = settings.with_overrides(ratelimit_public="1000 per minute")
    upgrade("survey", configured.database_url("survey"))
    ctx = build_context(configured, clock=clock)
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
def staff_console(survey_app, tokens):
    return Console(survey_app, tokens["staff"])


@pytest.fixture
def analyst_console(survey_app, tokens):
    return Console(survey_app, tokens["analyst"])


@pytest.fixture
def zh_console(survey_app, settings):
    return Console(survey_app, make_token(settings, "staff", name="李伟"), language="zh-CN")
