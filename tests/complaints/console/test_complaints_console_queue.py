"""The complaint queue (``/complaints/console/``): sign-in, filters, search, the order by the
next deadline, countdowns, pages."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import event

from tests.complaints.complaints_helpers import START, register_client
from tests.complaints.console.console_helpers import queue_refs, text


def test_an_unsigned_visitor_is_sent_to_sign_in(complaints_app):
    response = complaints_app.test_client().get("/console/?status=new")

    assert response.status_code == 303
    assert response.headers["Location"] == "/console/sign-in?next=/console/%3Fstatus%3Dnew"


def test_the_queue_is_sorted_by_the_next_deadline_with_paused_ones_last(api, staff):
    low = api.opened(severity="low")                        # respond by +24 h
    paused = api.in_status("awaiting_client", severity="critical")
    acknowledged = api.in_status("acknowledged", severity="medium")  # resolve by +5 d
    critical = api.opened(severity="critical")              # respond by +1 h
    high = api.opened(severity="high")                      # respond by +4 h
    resolved = api.in_status("resolved", severity="critical")

    refs = queue_refs(staff.get("/console/"))

    assert refs == [critical["ref"], high["ref"], low["ref"], acknowledged["ref"], paused["ref"]]
    assert resolved["ref"] not in refs  # the queue shows open complaints unless asked
    assert queue_refs(staff.get("/console/?status=any"))[-1] == resolved["ref"]


def test_each_row_counts_down_to_its_deadline_coloured_by_urgency(api, staff, clock):
    high = api.opened(severity="high", title="High one")          # respond by 13:00
    clock.set(START + timedelta(minutes=15))
    critical = api.opened(severity="critical", title="Critical one")  # respond by 10:15
    clock.set(START + timedelta(hours=1, minutes=50))
    medium = api.opened(severity="medium", title="Medium one")
    clock.advance(minutes=1)

    html = text(staff.get("/console/"))

    assert '<span class="countdown overdue">overdue 36 min</span>' in html
    assert '<span class="countdown ok">due in 2 h 9 min</span>' in html
    assert '<span class="countdown ok">due in 7 h 59 min</span>' in html
    clock.set(START + timedelta(hours=3, minutes=30))
    html = text(staff.get("/console/"))
    assert '<span class="countdown soon">due in 30 min</span>' in html
    assert [critical["ref"], high["ref"], medium["ref"]] == queue_refs(staff.get("/console/"))


def test_the_countdown_speaks_the_pages_language(api, console_as, clock):
    api.opened(severity="high")
    clock.advance(hours=1, minutes=50)

    html = text(console_as("staff", language="zh-CN").get("/console/"))

    assert '<html lang="zh-CN">' in html
    assert '<span class="countdown ok">剩余 2 小时 10 分钟</span>' in html
    assert "<th scope=\"col\">下一截止时间</th>" in html


def test_filters_narrow_the_queue(api, staff, clock):
    acknowledged = api.in_status("acknowledged", category="delivery")
    critical = api.opened(severity="critical", category="product")
    mine = api.opened(severity="low")
    api.acted(mine["id"], "assign", assignee="staff-user")
    theirs = api.opened(severity="low")
    api.acted(theirs["id"], "assign", assignee="Li Wei")
    clock.advance(hours=2)  # the critical one is now overdue (respond by +1 h)

    def refs(query: str) -> list[str]:
        response = staff.get("/console/?" + query)
        assert response.status_code == 200, text(response)
        return queue_refs(response)

    assert refs("status=acknowledged") == [acknowledged["ref"]]
    assert refs("severity=critical") == [critical["ref"]]
    assert refs("category=delivery") == [acknowledged["ref"]]
    assert refs("assignee=Li+Wei") == [theirs["ref"]]
    assert refs("mine=1") == [mine["ref"]]
    assert refs("overdue=1") == [critical["ref"]]
    assert refs("severity=low&mine=1") == [mine["ref"]]


def test_search_finds_by_ref_title_or_client_name(api, staff, complaints_ctx):
    acme = register_client(complaints_ctx, name="Acme 100% Trading")
    by_client = api.opened(client_id=acme, title="Late delivery")
    by_title = api.opened(title="Invoice charged twice")
    other = api.opened(title="Something else")

    def refs(q: str) -> list[str]:
        return sorted(queue_refs(staff.get("/console/", query_string={"q": q})))

    assert refs(other["ref"].lower()) == [other["ref"]]
    assert refs("CHARGED TWICE") == [by_title["ref"]]
    assert refs("acme") == [by_client["ref"]]
    assert refs("100%") == [by_client["ref"]]  # % is a character, not a wildcard
    assert refs("_") == []
    assert refs("华为") == sorted([by_title["ref"], other["ref"]])  # the default client


def test_the_queue_is_paginated_in_sql(api, staff, complaints_ctx):
    opened = [api.opened(severity="low") for _ in range(27)]
    statements: list[str] = []
    engine = complaints_ctx.database.engine
    listener = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(engine, "before_cursor_execute", listener)
    try:
        first = staff.get("/console/?severity=low")
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    second = staff.get("/console/?severity=low&page=2")

    assert queue_refs(first) == [c["ref"] for c in opened[:25]]
    assert queue_refs(second) == [c["ref"] for c in opened[25:]]
    assert "1–25 of 27" in text(first)
    assert 'href="?severity=low&amp;page=2"' in text(first)  # the filters are kept
    listing = [s for s in statements if "FROM complaint" in s and "count(" not in s.lower()]
    assert listing and all("LIMIT" in s for s in listing)


def test_a_filter_value_it_does_not_know_is_a_422_page_not_an_error(staff):
    response = staff.get("/console/?severity=urgent&page=x")

    assert response.status_code == 422
    html = text(response)
    assert 'class="error-summary"' in html
    assert '<a href="#field-severity">Choose one of the listed values.</a>' in html
    assert "Not a page number." in html


def test_only_staff_are_offered_a_new_complaint(staff, analyst):
    assert 'href="/console/new"' in text(staff.get("/console/"))
    assert 'href="/console/new"' not in text(analyst.get("/console/"))
