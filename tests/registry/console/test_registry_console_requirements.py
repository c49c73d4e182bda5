"""The console's requirements: the client page's section, the requirements list with its
filters, and the change requests page with Approve / Reject (staff, four eyes, CSRF)."""
from __future__ import annotations

from datetime import date, timedelta

from services.registry import requirements
from tests.conftest import make_token
from tests.registry.conftest import register
from tests.registry.console.console_support import main_of, post, text_of
from tests.support.console import console_client


def _requirement(ctx, client_id, *, by="staff-user", **fields):
    with ctx.database.transaction() as session:
        record = requirements.create_requirement(
            session, client_id, {"title": "Monthly usage export", **fields},
            now=ctx.clock(), by=by)
        return record.id


def _act(ctx, requirement_id, *actions):
    for action in actions:
        with ctx.database.transaction() as session:
            requirements.act(session, requirement_id, action, {}, expected_version=None,
                             now=ctx.clock(), by="staff-user")


def _change_request(ctx, requirement_id, *, by="staff-user"):
    with ctx.database.transaction() as session:
        record = requirements.submit_change_request(
            session, requirement_id,
            {"summary": "Move the date", "proposed": {"due_on": date(2030, 6, 30)},
             "impact": {"schedule_days": 12, "risk": "high", "cost": None}},
            now=ctx.clock(), by=by, rules=ctx.extras["rules"])
        return record.id


def test_the_client_page_lists_its_requirements_with_status_and_overdue(
        registry_ctx, console_as, clock):
    client = register(registry_ctx)
    _requirement(registry_ctx, client.id, title="Late export",
                 due_on=clock.now.date() - timedelta(days=3))
    _requirement(registry_ctx, client.id, title="Single sign-on")
    page = main_of(console_as("analyst").get(f"/console/clients/{client.id}"))
    assert "Requirements" in page and "Late export" in page and "Single sign-on" in page
    assert page.count("Overdue") == 1 and "Proposed" in page
    zh = main_of(console_as("analyst", language="zh-CN").get(f"/console/clients/{client.id}"))
    assert "需求" in zh and "已逾期" in zh


def test_the_requirements_list_filters_by_status_priority_and_overdue(
        registry_ctx, console_as, clock):
    client = register(registry_ctx)
    _requirement(registry_ctx, client.id, title="Late export", priority="must",
                 due_on=clock.now.date() - timedelta(days=3))
    approved = _requirement(registry_ctx, client.id, title="Single sign-on", priority="could")
    _act(registry_ctx, approved, "analyse", "approve")
    browser = console_as("analyst")
    everything = main_of(browser.get("/console/requirements"))
    assert "Late export" in everything and "Single sign-on" in everything
    overdue = main_of(browser.get("/console/requirements?overdue=true"))
    assert "Late export" in overdue and "Single sign-on" not in overdue
    by_status = main_of(browser.get("/console/requirements?status=approved"))
    assert "Single sign-on" in by_status and "Late export" not in by_status
    by_priority = main_of(browser.get("/console/requirements?priority=must"))
    assert "Late export" in by_priority and "Single sign-on" not in by_priority
    assert 'href="/console/requirements"' in text_of(browser.get("/console/"))  # navigation


def test_approve_from_the_change_requests_page_applies_the_change(
        registry_ctx, registry_app, settings, console_as):
    client = register(registry_ctx)
    requirement_id = _requirement(registry_ctx, client.id)
    _act(registry_ctx, requirement_id, "analyse", "approve")
    cr_id = _change_request(registry_ctx, requirement_id, by="someone-else")
    staff = console_as("staff")
    page = main_of(staff.get("/console/change-requests"))
    assert "Move the date" in page and "Approve" in page and "Reject" in page

    done = post(staff, f"/console/change-requests/{cr_id}/decision", {"decision": "approve"},
                page="/console/change-requests")
    assert done.status_code == 303
    with registry_ctx.database.transaction() as session:
        requirement = requirements.get_requirement(session, requirement_id)
        change = requirements.get_change_request(session, cr_id)
        assert (str(requirement.due_on), change.status, change.decided_by) == (
            "2030-06-30", "approved", "staff-user")
    assert "Move the date" not in main_of(staff.get("/console/change-requests"))


def test_the_submitter_gets_the_four_eyes_403_and_no_buttons(registry_ctx, console_as):
    client = register(registry_ctx)
    requirement_id = _requirement(registry_ctx, client.id)
    _act(registry_ctx, requirement_id, "analyse", "approve")
    cr_id = _change_request(registry_ctx, requirement_id, by="staff-user")
    staff = console_as("staff")
    page = main_of(staff.get("/console/change-requests"))
    assert "four eyes" in page and ">Approve<" not in page
    refused = post(staff, f"/console/change-requests/{cr_id}/decision", {"decision": "approve"},
                   page="/console/change-requests")
    assert refused.status_code == 403
    assert "Four eyes" in text_of(refused)
    with registry_ctx.database.transaction() as session:
        assert requirements.get_change_request(session, cr_id).status == "submitted"


def test_an_analyst_sees_no_buttons_and_is_refused_when_posting(registry_ctx, console_as):
    client = register(registry_ctx)
    requirement_id = _requirement(registry_ctx, client.id)
    _act(registry_ctx, requirement_id, "analyse", "approve")
    cr_id = _change_request(registry_ctx, requirement_id, by="someone-else")
    analyst = console_as("analyst")
    page = main_of(analyst.get("/console/change-requests"))
    assert "Move the date" in page and ">Approve<" not in page and "decision" not in page
    refused = post(analyst, f"/console/change-requests/{cr_id}/decision",
                   {"decision": "approve"}, page="/console/change-requests")
    assert refused.status_code == 403
    without_csrf = console_as("staff").post(f"/console/change-requests/{cr_id}/decision",
                                            data={"decision": "approve"})
    assert without_csrf.status_code in (400, 403)
    with registry_ctx.database.transaction() as session:
        assert requirements.get_change_request(session, cr_id).status == "submitted"


def test_list_pages_name_their_search_form_and_scrolling_table(
        registry_ctx, registry_app, settings, console_as):
    """The requirements and change requests pages: the filter form is a search landmark, and
    the box a wide table scrolls in is a named region a keyboard can reach."""
    import re
    client = register(registry_ctx)
    requirement_id = _requirement(registry_ctx, client.id)
    _act(registry_ctx, requirement_id, "analyse", "approve")
    _change_request(registry_ctx, requirement_id, by="someone-else")
    staff = console_as("staff")
    for path, search, table in (("/console/requirements", "Find requirements", "Requirements"),
                                ("/console/change-requests", "Find change requests", "Change requests")):
        page = main_of(staff.get(path))
        forms = re.findall(r"<form\b[^>]*>", page)
        assert any('role="search"' in form and f'aria-label="{search}"' in form
                   and 'method="get"' in form for form in forms), (path, forms)
        boxes = re.findall(r'<div class="table-wrap"[^>]*>', page)
        assert boxes == [f'<div class="table-wrap" role="region" aria-label="{table}" tabindex="0">'], \
            (path, boxes)


def test_client_page_tables_are_regions_named_by_their_section_headings(
        registry_ctx, registry_app, settings, console_as):
    import re
    client = register(registry_ctx)
    _requirement(registry_ctx, client.id)
    page = main_of(console_as("staff").get(f"/console/clients/{client.id}"))
    boxes = re.findall(r'<div class="table-wrap"[^>]*>', page)
    assert boxes, page
    for box in boxes:
        named_by = re.search(r'role="region" aria-labelledby="([^"]+)" tabindex="0"', box)
        assert named_by, box
        assert re.search(rf'<h2 id="{re.escape(named_by.group(1))}">[^<]+</h2>', page), box
