"""Every console write needs a CSRF token of its own session and must come from this site, and
a role below the page's sees no action and gets a 403 page if it posts anyway: in every case
nothing changes. Errors under ``/console/`` are pages; the API keeps its problem details."""
from __future__ import annotations

import pytest

from tests.conftest import make_token
from tests.support.console import console_client, csrf


@pytest.fixture
def staff(app, settings):
    return console_client(app, make_token(settings, "staff", "Wang Fang"), language="en")


def post_note(client, *, token: str | None, **headers):
    data = {"note": "hello"}
    if token is not None:
        data["csrf_token"] = token
    return client.post("/console/notes", data=data, headers=headers)


def test_a_post_with_the_sessions_token_from_this_site_is_done_and_redirected(app, staff):
    answer = post_note(staff, token=csrf(staff, "/console/"), Origin="http://localhost")
    assert answer.status_code == 303 and answer.headers["Location"] == "/console/"
    assert app.notes == ["hello"]
    assert "Saved." in staff.get("/console/").get_data(as_text=True)


def test_a_post_without_the_token_is_refused_with_a_page_and_changes_nothing(app, staff):
    for token in (None, "", "0" * 64):
        answer = post_note(staff, token=token)
        assert answer.status_code == 403 and answer.mimetype == "text/html"
        assert "did not come from this site" in answer.get_data(as_text=True)
    assert app.notes == []


def test_a_token_of_another_session_is_refused(app, settings, staff):
    other = console_client(app, make_token(settings, "staff", "Li Lei"))
    theirs = csrf(other, "/console/")
    assert theirs != csrf(staff, "/console/")
    assert post_note(staff, token=theirs).status_code == 403
    # the same person signing in again gets a new session, and a new token
    again = console_client(app, make_token(settings, "staff", "Wang Fang"))
    assert post_note(again, token=csrf(staff, "/console/")).status_code == 403
    assert app.notes == []


@pytest.mark.parametrize("headers", [{"Origin": "https://evil.example"}, {"Origin": "null"},
                                     {"Sec-Fetch-Site": "cross-site"},
                                     {"Origin": "http://localhost.evil.example"}])
def test_a_post_from_another_site_is_refused_even_with_the_token(app, staff, headers):
    answer = post_note(staff, token=csrf(staff, "/console/"), **headers)
    assert answer.status_code == 403
    assert app.notes == []


def test_an_analyst_sees_no_action_and_a_forged_post_gets_a_403_page(app, settings):
    analyst = console_client(app, make_token(settings, "analyst", "Zhou"), language="en")
    page = analyst.get("/console/").get_data(as_text=True)
    assert 'action="/console/notes"' not in page and "Save" not in page
    token = csrf(analyst, "/console/")                 # the layout's forms carry it too
    answer = post_note(analyst, token=token)
    assert answer.status_code == 403 and answer.mimetype == "text/html"
    assert "Your role (analyst) may not do this." in answer.get_data(as_text=True)
    assert app.notes == []


def test_a_page_for_admins_is_a_403_page_for_staff(app, settings, staff):
    answer = staff.get("/console/admin")
    assert answer.status_code == 403 and "<h1>Not allowed</h1>" in answer.get_data(as_text=True)
    admin = console_client(app, make_token(settings, "admin"))
    assert admin.get("/console/admin").get_data(as_text=True) == "admin page"


def test_unknown_console_paths_are_html_pages_and_the_api_keeps_problem_details(app, staff):
    answer = staff.get("/console/nothing/here")
    assert answer.status_code == 404 and answer.mimetype == "text/html"
    assert "Page not found" in answer.get_data(as_text=True)
    assert answer.headers["Content-Security-Policy"].startswith("default-src 'self'")
    api = staff.get("/api/v1/nothing")
    assert api.status_code == 404 and api.mimetype == "application/problem+json"


def test_routing_errors_under_the_console_are_pages_too(staff):
    for method, path, status in (("GET", "/console/items/not-a-uuid", 404), ("POST", "/console/", 405)):
        answer = staff.open(path, method=method, headers={"Accept-Language": "en"})
        assert answer.status_code == status and answer.mimetype == "text/html", path
        assert "<h1>" in answer.get_data(as_text=True)
        assert answer.headers["Content-Security-Policy"].startswith("default-src 'self'")
    assert staff.get("/console/items/123e4567-e89b-42d3-a456-426614174000").status_code == 200
    api = staff.get("/api/v1/clients/not-a-uuid")
    assert api.status_code == 404 and api.mimetype == "application/problem+json"


def test_pages_carry_the_security_headers(staff):
    answer = staff.get("/console/")
    csp = answer.headers["Content-Security-Policy"]
    for directive in ("default-src 'self'", "img-src 'self' data:", "style-src 'self'",
                      "script-src 'self'", "form-action 'self'", "frame-ancestors 'none'"):
        assert directive in csp
    assert "unsafe-inline" not in csp
    assert answer.headers["X-Frame-Options"] == "DENY"
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert answer.headers["Cache-Control"] == "no-store"
    css = staff.get("/console/static/console.css")
    assert css.status_code == 200 and css.mimetype == "text/css"


def test_hostile_text_is_shown_as_text(app, staff):
    hostile = '<script>alert(1)</script>"><img src=x onerror=alert(2)>'
    post_note(staff, token=csrf(staff, "/console/")).status_code
    app.notes.append(hostile)
    page = staff.get("/console/").get_data(as_text=True)
    assert hostile not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_a_post_after_the_session_expired_changes_nothing_and_leads_to_sign_in(app, settings, clock):
    client = console_client(app, make_token(settings, "staff", days=1))
    token = csrf(client, "/console/")
    clock.advance(days=2)
    answer = post_note(client, token=token)
    assert answer.status_code == 303
    assert answer.headers["Location"] == "/console/sign-in?next=/console/"
    assert app.notes == []
