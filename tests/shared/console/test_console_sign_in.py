"""Signing in to the staff console: a pasted token or a one-time link gives a session cookie
valid on every service (HttpOnly, SameSite=Lax, Secure behind HTTPS, expiring with the token);
a forged, expired or revoked session sends the user back to sign-in; sign-out ends it."""
from __future__ import annotations

import os
import re
from datetime import timedelta
from http.cookies import SimpleCookie
from urllib.parse import urlsplit

import pytest

from shared.auth import verify_token
from shared.cli import main
from shared.web.console.session import SESSION_COOKIE
from shared.web.security import revocation_list
from tests.conftest import TEST_SECRET, make_token
from tests.shared.console.conftest import build_app
from tests.support.console import console_client, csrf


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def set_cookies(response) -> dict[str, SimpleCookie]:
    cookies = {}
    for header in response.headers.getlist("Set-Cookie"):
        cookie = SimpleCookie()
        cookie.load(header)
        for name in cookie:
            cookies[name] = (cookie[name], header)
    return cookies


def session_cookie(response):
    morsel, header = set_cookies(response)[SESSION_COOKIE]
    return morsel, header


@pytest.fixture
def cli_env(settings, monkeypatch):
    for name in [key for key in os.environ
                 if key.startswith("CLIENTLOOP_") and key != "CLIENTLOOP_WEBHOOKS_ALLOW_HOSTS"]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("CLIENTLOOP_SECRET_KEY", TEST_SECRET)
    monkeypatch.setenv("CLIENTLOOP_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("CLIENTLOOP_PUBLIC_URL", "https://clientloop.example.com")


def cli(capsys, *args: str) -> str:
    code = main(list(args))
    out, err = capsys.readouterr()
    assert code == 0, err
    return out.strip()


def test_an_unsigned_visitor_is_sent_to_sign_in_whose_token_field_is_a_password(app):
    client = app.test_client()
    answer = client.get("/console/?status=open", headers={"Accept-Language": "en"})
    assert answer.status_code == 303
    assert answer.headers["Location"] == "/console/sign-in?next=/console/%3Fstatus%3Dopen"
    page = client.get(answer.headers["Location"], headers={"Accept-Language": "en"})
    body = page.get_data(as_text=True)
    assert page.status_code == 200 and page.mimetype == "text/html"
    assert re.search(r'<input id="field-token" name="token" type="password"', body)
    assert 'name="next" value="/console/?status=open"' in body
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    assert page.headers["Cache-Control"] == "no-store"


def test_a_pasted_token_signs_in_with_a_cookie_that_scripts_cannot_read(app, settings):
    token = make_token(settings, "staff", "Wang Fang", days=3)
    client = app.test_client()
    answer = client.post("/console/sign-in", data={"token": f"  {token}\n", "next": "/console/?q=1"},
                         headers={"Accept-Language": "en"})
    assert answer.status_code == 303 and answer.headers["Location"] == "/console/?q=1"
    morsel, header = session_cookie(answer)
    assert morsel["httponly"] and morsel["samesite"] == "Lax" and morsel["path"] == "/"
    assert not morsel["secure"]                        # plain http: a Secure cookie would be lost
    expires = verify_token(TEST_SECRET, token, now=app.extensions["clientloop"].clock()).expires_at
    assert expires.strftime("%d %b %Y %H:%M:%S") in header   # expires with the token
    page = client.get("/console/", headers={"Accept-Language": "en"})
    body = page.get_data(as_text=True)
    assert page.status_code == 200 and "Wang Fang" in body
    assert "Signed in as Wang Fang (staff)." in body         # the flash, shown once
    assert "Signed in as" not in client.get("/console/").get_data(as_text=True)


def test_the_cookie_is_secure_behind_the_https_gateway(settings, clock):
    app = build_app(settings.with_overrides(proxy_hops=1), clock=clock)
    answer = app.test_client().post(
        "/console/sign-in", data={"token": make_token(settings, "staff")},
        headers={"X-Forwarded-Proto": "https", "X-Forwarded-Host": "clientloop.example.com",
                 "X-Forwarded-Prefix": "/registry", "Origin": "https://clientloop.example.com"})
    assert answer.status_code == 303 and answer.headers["Location"] == "/registry/console/"
    morsel, _header = session_cookie(answer)
    assert morsel["secure"] and morsel["httponly"] and morsel["samesite"] == "Lax"


@pytest.mark.parametrize("kind, message", [
    ("forged", "This token is not valid."), ("expired", "This token has expired"),
    ("empty", "Paste your token."), ("link", "This token is not valid.")])
def test_a_bad_token_is_refused_on_the_sign_in_page(app, settings, clock, kind, message):
    from shared.sign_in_links import issue_link
    token = {"forged": make_token(settings.with_overrides(secret_key="x" * 40), "admin"),
             "expired": make_token(settings, "admin"), "empty": "   ",
             "link": issue_link(TEST_SECRET, name="a", role="admin", now=clock())[0]}[kind]
    if kind == "expired":
        clock.advance(days=2)
    answer = app.test_client().post("/console/sign-in", data={"token": token},
                                    headers={"Accept-Language": "en"})
    assert answer.status_code == 422 and SESSION_COOKIE not in set_cookies(answer)
    body = answer.get_data(as_text=True)
    assert message in body and 'class="error-summary"' in body and 'href="#field-token"' in body


def test_a_forged_or_expired_session_goes_back_to_sign_in_and_is_forgotten(app, settings, clock):
    client = console_client(app, make_token(settings, "staff", days=1))
    assert client.get("/console/").status_code == 200
    clock.advance(days=1, seconds=1)                   # the token, and so the session, expired
    answer = client.get("/console/")
    assert answer.status_code == 303 and answer.headers["Location"].startswith("/console/sign-in?next=")
    assert set_cookies(answer)[SESSION_COOKIE][0].value == ""   # deleted

    forged = app.test_client()
    forged.set_cookie(SESSION_COOKIE, "eyJ0IjoiYWJjIiwicyI6IngifQ.forged", path="/")
    assert forged.get("/console/").status_code == 303
    other_key = build_app(settings.with_overrides(secret_key="y" * 40), clock=clock)
    stolen = console_client(other_key, make_token(settings.with_overrides(secret_key="y" * 40), "admin", days=5))
    value = stolen.get_cookie(SESSION_COOKIE).value
    forged.set_cookie(SESSION_COOKIE, value, path="/")  # signed with another installation's key
    assert forged.get("/console/").status_code == 303


def test_a_session_revoked_with_token_revoke_is_refused(app, settings, cli_env, capsys):
    token = cli(capsys, "token", "create", "--role", "staff", "--name", "Li Lei")
    clock = FakeMonotonic()
    revocation_list(app).monotonic = clock
    client = console_client(app, token)
    assert client.get("/console/").status_code == 200
    cli(capsys, "token", "revoke", token)
    clock.now += 2.0                                   # the list is re-read every 2 s
    answer = client.get("/console/")
    assert answer.status_code == 303 and "/console/sign-in" in answer.headers["Location"]
    again = app.test_client().post("/console/sign-in", data={"token": token},
                                   headers={"Accept-Language": "en"})
    assert again.status_code == 422 and "has been revoked" in again.get_data(as_text=True)


def test_a_sign_in_link_works_once_and_signs_in_with_a_token_of_its_own(app, settings, cli_env, capsys):
    link = cli(capsys, "console", "link", "--name", "Zhao Min", "--role", "staff")
    parts = urlsplit(link)
    assert f"{parts.scheme}://{parts.netloc}" == "https://clientloop.example.com"
    assert parts.path.startswith("/registry/console/sign-in/")
    path = parts.path.removeprefix("/registry")           # the app under test has no prefix
    client = app.test_client()
    answer = client.get(path, headers={"Accept-Language": "en"})
    assert answer.status_code == 303 and answer.headers["Location"] == "/console/"
    assert answer.headers["Referrer-Policy"] == "no-referrer"
    morsel, _ = session_cookie(answer)
    assert morsel["httponly"] and morsel["samesite"] == "Lax"
    page = client.get("/console/", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "Zhao Min" in page and "Signed in as Zhao Min (staff)." in page

    second = app.test_client().get(path, headers={"Accept-Language": "en"})
    assert second.status_code == 410 and SESSION_COOKIE not in set_cookies(second)
    assert "already been used" in second.get_data(as_text=True)
    names = [line for line in cli(capsys, "token", "list").splitlines() if "Zhao Min" in line]
    assert len(names) == 2                             # the link (used) and the session's token


def test_an_expired_or_forged_link_signs_nobody_in(app, settings, cli_env, capsys, clock):
    path = urlsplit(cli(capsys, "console", "link", "--name", "A", "--role", "admin")).path
    path = path.removeprefix("/registry")
    forged = path[:-3] + ("abc" if not path.endswith("abc") else "xyz")
    answer = app.test_client().get(forged, headers={"Accept-Language": "en"})
    assert answer.status_code == 400 and "not valid" in answer.get_data(as_text=True)
    clock.advance(minutes=15, seconds=1)
    answer = app.test_client().get(path, headers={"Accept-Language": "en"})
    assert answer.status_code == 410 and "has expired" in answer.get_data(as_text=True)
    assert SESSION_COOKIE not in set_cookies(answer)


def test_only_the_registry_takes_sign_in_links(settings, clock, cli_env, capsys):
    survey = build_app(settings, service="survey", clock=clock)
    path = urlsplit(cli(capsys, "console", "link", "--name", "A", "--role", "admin")).path
    answer = survey.test_client().get(path.removeprefix("/registry"))
    assert answer.status_code == 404 and SESSION_COOKIE not in set_cookies(answer)


def test_a_link_nobody_recorded_is_refused(app, clock):
    from shared.sign_in_links import issue_link
    token, _principal = issue_link(TEST_SECRET, name="B", role="admin", now=clock())
    answer = app.test_client().get(f"/console/sign-in/{token}")
    assert answer.status_code == 410 and SESSION_COOKIE not in set_cookies(answer)


def test_sign_out_ends_the_session(app, settings):
    client = console_client(app, make_token(settings, "analyst"))
    refused = client.post("/console/sign-out")          # no CSRF token: refused
    assert refused.status_code == 403
    assert client.get("/console/").status_code == 200
    answer = client.post("/console/sign-out", data={"csrf_token": csrf(client, "/console/")})
    assert answer.status_code == 303 and answer.headers["Location"] == "/console/sign-in"
    assert set_cookies(answer)[SESSION_COOKIE][0].value == ""
    assert client.get("/console/").status_code == 303


def test_sign_in_never_sends_the_user_to_another_site(app, settings):
    token = make_token(settings, "staff")
    for target in ("//evil.example/", "https://evil.example/", "/\\evil.example", "javascript:alert(1)"):
        answer = app.test_client().post("/console/sign-in", data={"token": token, "next": target})
        assert answer.headers["Location"] == "/console/", target


def test_sign_in_from_another_site_is_refused(app, settings):
    answer = app.test_client().post("/console/sign-in", data={"token": make_token(settings, "staff")},
                                    headers={"Origin": "https://evil.example"})
    assert answer.status_code == 403 and SESSION_COOKIE not in set_cookies(answer)


def test_a_session_cookie_of_one_service_is_valid_on_another(settings, clock):
    registry = build_app(settings, service="registry", clock=clock)
    survey = build_app(settings, service="survey", clock=clock)
    client = console_client(registry, make_token(settings, "staff", "Wang Fang"))
    cookie = client.get_cookie(SESSION_COOKIE)
    other = survey.test_client()
    other.set_cookie(SESSION_COOKIE, cookie.value, path="/")
    page = other.get("/console/")
    assert page.status_code == 200 and "Wang Fang" in page.get_data(as_text=True)
