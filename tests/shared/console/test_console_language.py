"""The console in zh-CN and en: chosen from Accept-Language, switched and remembered for the
whole site; every shared text has its Chinese; dates, numbers, money and deadlines formatted
per language and CLIENTLOOP_TIMEZONE."""
from __future__ import annotations

import glob
from datetime import datetime, timedelta, timezone
from http.cookies import SimpleCookie
from pathlib import Path

import pytest

from shared.web.console import _, ngettext
from shared.web.console.catalogue import (missing_translations, texts_in_python,
                                          texts_in_template_source, texts_in_templates)
from shared.web.console.formatting import (countdown, format_date, format_datetime, format_money,
                                           format_number, format_percent)
from tests.conftest import make_token
from tests.shared.console.conftest import build_app
from tests.support.console import console_client, csrf

ROOT = Path(__file__).resolve().parents[3]
SHARED = ROOT / "shared/web/console"


def test_every_shared_text_has_a_chinese_translation():
    texts = texts_in_templates(SHARED / "templates") | texts_in_python(glob.glob(str(SHARED / "*.py")))
    assert {"Sign in", "Sign out", "Complaints", "Clients", "Surveys", "This token is not valid.",
            "due in %(time)s"} <= texts                 # the scan finds them (N_-marked too)
    assert missing_translations(texts) == []


def test_the_scan_finds_template_calls_and_trans_blocks():
    source = ('{{ _("One") }} {{ gettext("Two", n=1) }} {{ ngettext("%(num)s day", "%(num)s days", 3) }}'
              '{% trans %}Three{% endtrans %}')
    assert texts_in_template_source(source) == {"One", "Two", "%(num)s day", "%(num)s days", "Three"}
    assert missing_translations({"Sign in", "no such text"}) == ["no such text"]


@pytest.mark.parametrize("header, lang, text", [
    ("zh-CN,zh;q=0.9,en;q=0.8", "zh-CN", "登录"), ("en-GB,en;q=0.9", "en", "Sign in"),
    ("zh-TW", "zh-CN", "登录"), ("fr-FR", "zh-CN", "登录"), ("fr, en;q=0.5", "en", "Sign in")])
def test_the_language_comes_from_accept_language(app, header, lang, text):
    page = app.test_client().get("/console/sign-in", headers={"Accept-Language": header})
    body = page.get_data(as_text=True)
    assert f'<html lang="{lang}">' in body and f"<h1>{text}</h1>" in body
    assert "Accept-Language" in page.headers["Vary"]


def test_without_accept_language_the_default_language_is_used(settings, clock):
    app = build_app(settings.with_overrides(default_language="en"), clock=clock)
    assert '<html lang="en">' in app.test_client().get("/console/sign-in").get_data(as_text=True)


def test_the_switch_is_remembered_for_the_whole_site(app, settings, clock):
    client = console_client(app, make_token(settings, "staff"))
    chinese = {"Accept-Language": "zh-CN"}
    assert '<html lang="zh-CN">' in client.get("/console/", headers=chinese).get_data(as_text=True)
    answer = client.post("/console/language", headers=chinese,
                         data={"language": "en", "next": "/console/?page=2",
                               "csrf_token": csrf(client, "/console/")})
    assert answer.status_code == 303 and answer.headers["Location"] == "/console/?page=2"
    cookie = SimpleCookie(answer.headers["Set-Cookie"])["clientloop_lang"]
    assert cookie.value == "en" and cookie["path"] == "/" and int(cookie["max-age"]) >= 300 * 86400
    page = client.get("/console/", headers=chinese).get_data(as_text=True)
    assert '<html lang="en">' in page and ">Sign out<" in page
    # another service reads the same cookie
    other = build_app(settings, service="complaints", clock=clock).test_client()
    other.set_cookie("clientloop_lang", "en", path="/")
    assert '<html lang="en">' in other.get("/console/sign-in", headers=chinese).get_data(as_text=True)


def test_the_switch_of_a_signed_in_user_needs_the_csrf_token(app, settings):
    client = console_client(app, make_token(settings, "staff"))
    answer = client.post("/console/language", data={"language": "en"})
    assert answer.status_code == 403 and "clientloop_lang" not in answer.headers.get("Set-Cookie", "")


def test_the_switch_on_the_sign_in_page_needs_no_session_but_this_site(app):
    client = app.test_client()
    assert client.post("/console/language", data={"language": "en"},
                       headers={"Origin": "https://evil.example"}).status_code == 403
    answer = client.post("/console/language", data={"language": "en", "next": "//evil.example"})
    assert answer.status_code == 303 and answer.headers["Location"] == "/console/"
    assert "clientloop_lang=en" in answer.headers["Set-Cookie"]


def test_texts_take_named_values_in_both_styles(app):
    with app.test_request_context(headers={"Accept-Language": "zh-CN"}):
        assert _("Signed in as %(name)s (%(role)s).", name="王", role="员工") == "已登录：王（员工）。"
        assert ngettext("%(num)s d", "%(num)s d", 2) == "2 d"        # unknown: English, n put in
        assert _("Hello {name}", name="Li") == "Hello Li"


def test_values_put_into_a_template_text_are_escaped(app):
    from flask import render_template_string
    with app.test_request_context(headers={"Accept-Language": "en"}):
        html = render_template_string('{{ _("You are signed in as %(name)s.", name=who) }}',
                                      who="<b>x</b>")
    assert html == "You are signed in as &lt;b&gt;x&lt;/b&gt;."


MOMENT = datetime(2026, 3, 5, 1, 30, tzinfo=timezone.utc)


def test_dates_and_numbers_follow_the_language_and_the_time_zone(settings, clock):
    app = build_app(settings.with_overrides(timezone="Asia/Shanghai", currency="CNY"), clock=clock)
    with app.test_request_context(headers={"Accept-Language": "zh-CN"}):
        assert format_datetime(MOMENT) == "2026年3月5日 09:30"
        assert format_datetime("2026-03-05T01:30:00Z") == "2026年3月5日 09:30"
        assert format_date(MOMENT) == "2026年3月5日"
        assert format_number(1234567.5) == "1,234,567.5" and format_number("3.14159", 2) == "3.14"
        assert format_money({"amount": "1200000.00", "currency": "CNY"}) == "¥1,200,000.00"
        assert format_percent(0.125, 1) == "12.5%"
        assert format_datetime(None) == "—"
    with app.test_request_context(headers={"Accept-Language": "en"}):
        assert format_datetime(MOMENT) == "5 Mar 2026, 09:30"
        assert format_money("99.5", "USD") == "$99.50" and format_money(1, "CNY") == "CN¥1.00"


@pytest.mark.parametrize("left, en, zh, css", [
    (timedelta(hours=2, minutes=10, seconds=30), "due in 2 h 10 min", "剩余 2 小时 10 分钟", "ok"),
    (timedelta(minutes=35), "due in 35 min", "剩余 35 分钟", "soon"),
    (timedelta(days=3, hours=4, minutes=5), "due in 3 d 4 h", "剩余 3 天 4 小时", "ok"),
    (-timedelta(minutes=35), "overdue 35 min", "已超时 35 分钟", "overdue"),
    (-timedelta(hours=2), "overdue 2 h", "已超时 2 小时", "overdue"),
    (timedelta(seconds=20), "due in 1 min", "剩余 1 分钟", "soon")])
def test_a_deadline_counts_down_coloured_by_urgency(app, left, en, zh, css):
    now = MOMENT
    with app.test_request_context(headers={"Accept-Language": "en"}):
        text, css_class = countdown(now + left, now)
        assert (text, css_class) == (en, css)
    with app.test_request_context(headers={"Accept-Language": "zh-CN"}):
        assert countdown((now + left).isoformat(), now).text == zh
        assert countdown(None, now) is None
