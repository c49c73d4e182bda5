"""The client page, ``/registry/console/clients/<id>``: profile and contacts, the stakeholder
grid, satisfaction over time with each change's reason, health and value, open complaints and
survey responses as the registry learnt them from events, and client care."""
from __future__ import annotations

import html
import re
import uuid
from datetime import datetime, timedelta, timezone

from sqlalchemy import update
from werkzeug.test import Client

from services.complaints.app import build_context as complaints_context
from services.complaints.app import create_app as complaints_app
from services.registry import care
from services.registry.adapters.orm import ClientEventRecord
from services.registry.app import build_context, create_app
from shared.clock import as_utc
from shared.embedded import wsgi
from shared.migrations import upgrade
from shared.web.console.formatting import format_datetime
from tests.complaints.complaints_helpers import ComplaintsApi, outbox_events, register_client
from tests.registry.conftest import deliver, published, register
from tests.registry.console.console_support import main_of, post, text_of
from tests.support.console import console_client


def test_the_page_shows_the_profile_contacts_and_the_clients_place_on_the_grid(registry_ctx,
                                                                                console_as):
    client = register(registry_ctx, "Northwind Traders", owner="Tom Baker", tags=["retail", "EMEA"],
                      contacts=[{"name": "Sarah Mitchell", "email": "sarah@example.com",
                                 "phone": "+44 20 7946 0000", "role": "Head of Operations"}],
                      power=5, interest=2, engagement_current="resistant",
                      engagement_desired="supportive",
                      annual_value={"amount": "480000.00", "currency": "CNY"})
    page = main_of(console_as("analyst").get(f"/console/clients/{client.id}"))

    assert "<h1>Northwind Traders" in page
    for shown in ("Tom Baker", "retail, EMEA", "Sarah Mitchell", "Head of Operations",
                  'href="mailto:sarah@example.com"', "+44 20 7946 0000", "CN¥480,000.00",
                  "Tier B", "Keep satisfied", "2 levels more engagement needed"):
        assert shown in page, shown
    grid = re.search(r'<svg[^>]*role="img".*?</svg>', page, re.DOTALL).group(0)
    assert "Power 5 of 5, interest 2 of 5: Keep satisfied." in grid   # its accessible name
    assert "Power 5 of 5, interest 2 of 5: Keep satisfied." in page.split("</svg>", 1)[1]
    # the dot sits in the top row (power 5), second column (interest 2)
    circle = re.search(r'<circle cx="([\d.]+)" cy="([\d.]+)"', grid)
    assert (float(circle.group(1)), float(circle.group(2))) == (34 + 36 + 18, 8 + 18)


def test_an_unknown_client_is_a_404_page(console_as):
    answer = console_as("analyst").get(f"/console/clients/{uuid.uuid4()}")
    assert answer.status_code == 404 and answer.mimetype == "text/html"
    assert console_as("analyst").get("/console/clients/not-a-uuid").status_code == 404


def test_satisfaction_over_time_is_a_chart_with_each_changes_reason(registry_ctx, bus, clock,
                                                                     console_as):
    client = register(registry_ctx, "Acme")
    deliver(registry_ctx, bus.survey(client.id, 80, at=clock.now - timedelta(days=3)))
    deliver(registry_ctx, bus.opened(client.id, "high", ref="CMP-000007",
                                     at=clock.now - timedelta(days=2)))
    deliver(registry_ctx, bus.resolved(client.id, "high", ref="CMP-000007", within_sla=True,
                                       at=clock.now - timedelta(days=1)))
    page = main_of(console_as("analyst").get(f"/console/clients/{client.id}"))

    chart = re.search(r'<img class="chart" src="data:image/svg\+xml;base64,[^"]+" alt="([^"]*)"',
                      page)
    assert chart and chart.group(1).startswith("Satisfaction over time.")
    assert "80" in chart.group(1) and "70" in chart.group(1) and "75" in chart.group(1)
    for reason in ("Survey response scored 80: first satisfaction measure, set to 80",
                   "Complaint CMP-000007 (high) opened: −10",
                   "Complaint CMP-000007 (high) resolved within SLA: +5"):
        assert reason in page, reason
    # newest first in the table, with the change and the value after it
    rows = re.findall(r"<tr><th scope=\"row\">.*?</tr>", page.split("Every change")[1], re.DOTALL)
    assert "Complaint resolved" in rows[0] and "+5.00" in rows[0] and "75.00" in rows[0]


def test_a_client_nothing_happened_to_has_no_chart_but_says_so(registry_ctx, console_as):
    client = register(registry_ctx, "Quiet")
    page = main_of(console_as("analyst").get(f"/console/clients/{client.id}"))
    assert 'class="chart"' not in page
    assert "No feedback or complaint has moved satisfaction yet." in page


def complaints_of(page: str) -> str:
    return page.split('id="complaints"')[1].split("</section>")[0]


def complaint_rows(page: str) -> dict[str, str]:
    """Each open complaint's table row, by ref."""
    rows = re.findall(r"<tr><th scope=\"row\">.*?</tr>", complaints_of(page), re.DOTALL)
    return {re.search(r">(CMP-\d+)</a>", row).group(1): row for row in rows}


def shown_time(app, moment) -> str:
    with app.app_context():
        return format_datetime(moment, language="en")


def test_open_complaints_are_listed_from_the_events_and_link_to_the_complaint(registry_ctx, bus,
                                                                               clock, console_as):
    client = register(registry_ctx, "Acme", annual_value={"amount": "200000.00", "currency": "CNY"})
    critical_id = str(uuid.uuid4())
    deliver(registry_ctx,
            bus.opened(client.id, "medium", ref="CMP-000001", at=clock.now - timedelta(hours=5)),
            bus.opened(client.id, "critical", ref="CMP-000002", at=clock.now - timedelta(hours=3),
                       complaint_id=critical_id),
            bus.opened(client.id, "low", ref="CMP-000003", at=clock.now - timedelta(hours=2)),
            bus.resolved(client.id, "low", ref="CMP-000003", at=clock.now - timedelta(hours=1)))
    page = main_of(console_as("analyst").get(f"/console/clients/{client.id}"))
    complaints = complaints_of(page)

    refs = re.findall(r'<a href="([^"]+)">(CMP-\d+)</a>', complaints)
    assert [ref for _link, ref in refs] == ["CMP-000002", "CMP-000001"]   # most severe first
    assert refs[0][0] == f"/complaints/console/complaints/{critical_id}"  # the complaint's page
    assert "Critical" in complaints and "Medium" in complaints
    assert "CMP-000003" not in complaints                                  # resolved
    assert "Value at risk" in page and "Critical</span>" in page           # health band


def test_an_open_complaint_shows_its_resolution_deadline_counting_down(registry_ctx, registry_app,
                                                                       bus, clock, console_as):
    client = register(registry_ctx, "Acme")
    due = clock.now + timedelta(days=2, hours=19, minutes=10)
    missed = clock.now - timedelta(minutes=35)
    deliver(registry_ctx,
            bus.opened(client.id, "high", ref="CMP-000001", at=clock.now - timedelta(hours=5),
                       resolve_by=due),
            bus.opened(client.id, "critical", ref="CMP-000002", at=clock.now - timedelta(hours=9),
                       resolve_by=missed))
    rows = complaint_rows(main_of(console_as("analyst").get(f"/console/clients/{client.id}")))

    assert '<span class="countdown ok">due in 2 d 19 h</span>' in rows["CMP-000001"]
    assert shown_time(registry_app, due) in rows["CMP-000001"]
    assert '<span class="countdown overdue">overdue 35 min</span>' in rows["CMP-000002"]
    assert shown_time(registry_app, missed) in rows["CMP-000002"]


def test_a_reclassification_and_a_pause_move_the_deadline_shown(registry_ctx, bus, clock,
                                                                console_as):
    client = register(registry_ctx, "Acme")
    opened_at = clock.now - timedelta(hours=6)
    deliver(registry_ctx, bus.opened(client.id, "low", ref="CMP-000001", at=opened_at,
                                     resolve_by=opened_at + timedelta(days=10)))
    path = f"/console/clients/{client.id}"
    row = complaint_rows(main_of(console_as("analyst").get(path)))["CMP-000001"]
    assert "due in 9 d 18 h" in row

    deliver(registry_ctx, bus.reclassified(client.id, "low", "critical", ref="CMP-000001",
                                           at=clock.now - timedelta(hours=5),
                                           resolve_by=opened_at + timedelta(hours=8)))
    row = complaint_rows(main_of(console_as("analyst").get(path)))["CMP-000001"]
    assert "Critical" in row and "due in 2 h" in row and "9 d" not in row

    deliver(registry_ctx, bus.waiting(client.id, "critical", ref="CMP-000001",
                                      at=clock.now - timedelta(hours=4),
                                      resolve_by=opened_at + timedelta(hours=8)))
    row = complaint_rows(main_of(console_as("analyst").get(path)))["CMP-000001"]
    assert '<span class="badge">Paused</span>' in row and "countdown" not in row

    deliver(registry_ctx, bus.resumed(client.id, "critical", ref="CMP-000001",
                                      at=clock.now - timedelta(hours=1),
                                      resolve_by=opened_at + timedelta(hours=11)))
    row = complaint_rows(main_of(console_as("analyst").get(path)))["CMP-000001"]
    assert "Paused" not in row and "due in 5 h" in row


def test_a_complaint_applied_before_ids_and_deadlines_were_kept_links_to_the_queue(registry_ctx,
                                                                                   bus, console_as):
    client = register(registry_ctx, "Acme")
    deliver(registry_ctx, bus.opened(client.id, "high", ref="CMP-000001"))
    with registry_ctx.database.transaction() as session:   # as the migration left older rows
        session.execute(update(ClientEventRecord).values(complaint_id=None, resolve_by=None))
    row = complaint_rows(main_of(console_as("analyst").get(f"/console/clients/{client.id}")))[
        "CMP-000001"]

    assert 'href="/complaints/console/?q=CMP-000001&amp;status=any"' in row
    assert "countdown" not in row and "<td>—</td>" in row


def test_recent_survey_responses_show_their_scores_newest_first(registry_ctx, bus, clock,
                                                                console_as):
    client = register(registry_ctx, "Acme")
    deliver(registry_ctx, bus.survey(client.id, 90, at=clock.now - timedelta(days=2)),
            bus.survey(client.id, 40, at=clock.now - timedelta(days=1)),
            bus.survey(client.id, None, at=clock.now - timedelta(hours=1)))
    page = main_of(console_as("analyst").get(f"/console/clients/{client.id}"))
    feedback = page.split('id="feedback"')[1].split("</section>")[0]

    scores = re.findall(r'<td class="number">([^<]*)</td>', feedback)
    assert scores == ["no score", "—", "40.00", "75.00", "90.00", "90.00"]


def test_recent_survey_responses_show_their_comments_the_latest_five(registry_ctx, bus, clock,
                                                                     console_as):
    client = register(registry_ctx, "Acme")
    deliver(registry_ctx, *[
        bus.survey(client.id, 50 + day, at=clock.now - timedelta(days=10 - day),
                   comment=f"Comment of day {day}: 发票开得很快" if day != 8 else None)
        for day in range(10)])
    page = main_of(console_as("analyst").get(f"/console/clients/{client.id}"))
    feedback = page.split('id="feedback"')[1].split("</section>")[0]
    rows = re.findall(r"<tr><th scope=\"row\">.*?</tr>", feedback, re.DOTALL)

    assert len(rows) == 5
    assert "59.00" in rows[0] and "Comment of day 9: 发票开得很快" in rows[0]
    assert "58.00" in rows[1] and rows[1].endswith("<td>—</td></tr>")   # no comment
    assert "Comment of day 5" in rows[4] and "Comment of day 4" not in feedback
    assert "Comment" in feedback   # the column


def test_staff_log_an_interaction_and_the_follow_up_moves(registry_ctx, clock, console_as):
    client = register(registry_ctx, "Acme")
    with registry_ctx.database.transaction() as session:
        care.put_plan(session, client.id, {"goal": "Quarterly review", "channel": "meeting",
                                           "frequency_days": 7,
                                           "starts_on": (clock.now - timedelta(days=30)).date()},
                      expected_version=None, now=clock.now, by="test",
                      rules=registry_ctx.extras["rules"])
    staff = console_as("staff")
    before = main_of(staff.get(f"/console/clients/{client.id}"))
    assert "Follow-up due" in before and "23 days overdue" in before

    answer = post(staff, f"/console/clients/{client.id}/interactions",
                  {"channel": "phone", "summary": "Talked about the renewal."})
    assert answer.status_code == 303
    assert answer.headers["Location"] == f"/console/clients/{client.id}"
    after = main_of(staff.get(f"/console/clients/{client.id}"))
    assert "Interaction logged." in after
    assert "Talked about the renewal." in after and "staff-user" in after
    assert "Follow-up due" not in after
    assert len(published(registry_ctx, "client.followup.due")) == 0


def test_an_interaction_typed_in_local_time_is_a_time_in_the_installations_zone(settings, clock,
                                                                                tokens):
    shanghai = settings.with_overrides(timezone="Asia/Shanghai")
    upgrade("registry", shanghai.database_url("registry"))
    ctx = build_context(shanghai, clock=clock)
    try:
        client = register(ctx, "Acme")
        staff = console_client(create_app(context=ctx), tokens["staff"])
        answer = post(staff, f"/console/clients/{client.id}/interactions",
                      {"channel": "email", "summary": "Sent the offer.", "staff": "Li Na",
                       "occurred_at": "2026-03-02T09:30"})
        assert answer.status_code == 303
        with ctx.database.transaction() as session:
            logged = care.interactions_page(session, client.id, 1, 10)["items"][0]
            assert logged.staff == "Li Na"
            assert as_utc(logged.occurred_at) == datetime(2026, 3, 2, 1, 30, tzinfo=timezone.utc)
    finally:
        ctx.database.dispose()


def test_an_invalid_interaction_comes_back_with_its_errors_and_what_was_typed(registry_ctx,
                                                                              console_as):
    client = register(registry_ctx, "Acme")
    answer = post(console_as("staff"), f"/console/clients/{client.id}/interactions",
                  {"channel": "pigeon", "summary": "   ", "occurred_at": "2999-01-01T00:00",
                   "staff": "Someone"})
    page = main_of(answer)

    assert answer.status_code == 422
    assert 'href="#field-channel"' in page and 'href="#field-summary"' in page
    assert 'href="#field-occurred_at"' in page
    assert 'value="Someone"' in page and 'value="2999-01-01T00:00"' in page
    with registry_ctx.database.transaction() as session:
        assert care.interactions_page(session, client.id, 1, 10)["total"] == 0


def test_staff_set_the_communication_plan_from_the_page(registry_ctx, clock, console_as):
    client = register(registry_ctx, "Acme", owner="Li Na")
    staff = console_as("staff")
    answer = post(staff, f"/console/clients/{client.id}/plan",
                  {"plan_goal": "Keep the sponsor on side", "plan_channel": "meeting",
                   "plan_frequency_days": "14", "plan_owner": "", "plan_starts_on": ""})
    assert answer.status_code == 303
    page = main_of(staff.get(f"/console/clients/{client.id}"))
    assert "Communication plan saved." in page
    assert "Keep the sponsor on side" in page and "every 14 days" in page
    with registry_ctx.database.transaction() as session:
        plan = care.get_plan(session, client.id)
        assert (plan.owner, plan.starts_on, plan.version) == ("Li Na", clock.now.date(), 1)

    refused = post(staff, f"/console/clients/{client.id}/plan",
                   {"plan_goal": "", "plan_channel": "meeting", "plan_frequency_days": "0",
                    "version": "1"})
    assert refused.status_code == 422
    assert 'href="#field-plan_goal"' in text_of(refused)
    assert 'href="#field-plan_frequency_days"' in text_of(refused)


def test_the_roles_see_only_what_they_may_do(registry_ctx, console_as):
    client = register(registry_ctx, "Acme")
    path = f"/console/clients/{client.id}"
    analyst = main_of(console_as("analyst").get(path))
    staff = main_of(console_as("staff").get(path))
    admin = main_of(console_as("admin").get(path))

    for action in ("/edit", "/archive", "/erase", "/interactions", "/plan"):
        assert f"{path}{action}" not in analyst, action
    assert "<form" not in analyst and "<button" not in analyst
    for action in ("/edit", "/archive", "/interactions", "/plan"):
        assert f"{path}{action}" in staff and f"{path}{action}" in admin
    assert f"{path}/erase" not in staff
    assert f"{path}/erase" in admin and "Erase personal data" in admin


def test_the_page_speaks_chinese(registry_ctx, bus, console_as):
    client = register(registry_ctx, "Acme", power=4, interest=4)
    deliver(registry_ctx, bus.opened(client.id, "high", ref="CMP-000001"))
    page = main_of(console_as("staff", language="zh-CN").get(f"/console/clients/{client.id}"))
    for shown in ("满意度变化", "未结投诉", "沟通计划", "添加沟通记录", "重点管理", "高"):
        assert shown in page, shown
    # the ledger's reason is the record's own (English) text, marked as such
    assert '<td lang="en">Complaint CMP-000001 (high) opened: −10' in page


def test_on_the_one_site_a_complaints_ref_opens_the_complaints_own_page(settings, tokens):
    for name in ("registry", "survey", "complaints"):
        upgrade(name, settings.database_url(name))
    ctx, complaints = build_context(settings), complaints_context(settings)
    try:
        client = register(ctx, "Acme")
        register_client(complaints, client_id=client.id)
        api = ComplaintsApi(complaints_app(context=complaints).test_client(), complaints, tokens)
        complaint = api.opened(client_id=client.id)
        opened = [event for event in outbox_events(complaints)
                  if event.pop("event_type") == "complaint.opened"]
        deliver(ctx, *opened)   # what complaints published, as the registry receives it
        browser = Client(wsgi(settings))
        assert browser.post("/registry/console/sign-in",
                            data={"token": tokens["analyst"]}).status_code == 303
        page = browser.get(f"/registry/console/clients/{client.id}").get_data(as_text=True)
        link = re.search(rf'<a href="([^"]+)">{complaint["ref"]}</a>', page).group(1)
        assert link == f"/complaints/console/complaints/{complaint['id']}"
        shown = browser.get(link)   # the same session
        assert shown.status_code == 200 and complaint["title"] in shown.get_data(as_text=True)
    finally:
        ctx.database.dispose()
        complaints.database.dispose()
