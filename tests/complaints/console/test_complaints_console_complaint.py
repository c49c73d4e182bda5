"""One complaint's page: its fields and client, only the allowed actions (each its own form),
refusals shown as flash messages, notes, triage corrections previewed before saving, roles and
CSRF."""
from __future__ import annotations

import re
import uuid
import pytest

from tests.complaints.complaints_helpers import register_client
from tests.complaints.console.console_helpers import (act, buttons, flashes, page_path,
                                                      post_form, text)
from tests.support.console import csrf

ACTION_BUTTONS = {
    "new": ["Acknowledge", "Assign"],
    "acknowledged": ["Start", "Assign", "Escalate", "Resolve"],
    "in_progress": ["Assign", "Escalate", "Wait for client", "Resolve"],
    "escalated": ["Assign", "Wait for client", "Resolve"],
    "awaiting_client": ["Resume", "Assign"],
    "resolved": ["Close", "Reopen"],
    "closed": ["Reopen"],
}
"""The buttons each status offers: first those without fields (one row), then one form each."""


def test_the_page_shows_the_fields_the_client_and_the_timeline(api, staff, complaints_ctx):
    client_id = register_client(complaints_ctx, name="Acme Trading", tier="A")
    complaint = api.in_status("in_progress", client_id=client_id, severity="high",
                              remedy_sought="Refund the second charge")

    html = text(staff.get(page_path(complaint["id"])))

    assert f"<h1>{complaint['ref']} · Charged twice for March</h1>" in html
    assert f'<a href="/registry/console/clients/{client_id}">Acme Trading</a> · tier A' in html
    assert "The March invoice was charged twice." in html
    assert "Refund the second charge" in html
    timeline = re.findall(r"<li>\s*<strong>([^<]+)</strong>", html)
    assert timeline == ["Opened", "Acknowledge", "Start"]
    assert "Acknowledged → In progress" in html


@pytest.mark.parametrize("status", list(ACTION_BUTTONS))
def test_only_the_actions_the_status_allows_are_offered(api, staff, status):
    complaint = api.in_status(status)

    assert buttons(staff.get(page_path(complaint["id"]))) == ACTION_BUTTONS[status]


def test_the_buttons_are_in_chinese_for_a_chinese_reader(api, console_as):
    complaint = api.in_status("in_progress")

    response = console_as("staff", language="zh-CN").get(page_path(complaint["id"]))

    assert buttons(response) == ["分派", "升级", "等待客户", "解决"]


def test_acknowledge_assign_start_and_resolve_from_the_page(api, staff):
    complaint = api.opened()

    response = act(staff, complaint, "acknowledge")
    assert response.status_code == 303
    assert response.headers["Location"] == page_path(complaint["id"])
    assert flashes(staff.get(page_path(complaint["id"]))) == ["Acknowledge: done."]
    for action, fields in (("assign", {"assignee": "Li Wei"}), ("start", {}),
                           ("resolve", {"resolution_code": "refund",
                                        "root_cause": "Duplicate billing run",
                                        "summary": "Refunded the duplicate charge"})):
        current = api.read(complaint["id"])
        assert act(staff, current, action, **fields).status_code == 303

    stored = api.read(complaint["id"])
    assert (stored["status"], stored["assignee"], stored["root_cause"]) == (
        "resolved", "Li Wei", "Duplicate billing run")
    assert [entry["by"] for entry in stored["timeline"][1:]] == ["staff-user"] * 4


def test_close_takes_yes_or_no(api, staff):
    complaint = api.in_status("resolved")

    act(staff, complaint, "close", client_accepted="no")

    stored = api.read(complaint["id"])
    assert (stored["status"], stored["client_accepted"]) == ("closed", False)


def test_a_refused_action_is_a_flash_naming_the_allowed_ones(api, staff):
    complaint = api.opened()

    response = act(staff, complaint, "resolve", follow=True, resolution_code="refund",
                   root_cause="x", summary="y")

    assert flashes(response) == ["Resolve is not allowed now. Allowed: Acknowledge, Assign."]
    assert api.read(complaint["id"])["status"] == "new"


def test_a_refused_action_in_chinese(api, console_as):
    complaint = api.opened()
    client = console_as("staff", language="zh-CN")

    response = act(client, complaint, "start", follow=True)

    assert flashes(response) == ["现在不能执行“开始处理”。可执行的操作：确认受理, 分派。"]


def test_a_form_made_from_an_older_version_is_refused_with_a_flash(api, staff):
    complaint = api.opened()
    api.acted(complaint["id"], "assign", assignee="Li Wei")  # someone else, meanwhile

    response = act(staff, complaint, "acknowledge", follow=True)

    assert flashes(response) == [
        "The complaint changed since you opened it; check it and try again."]
    assert api.read(complaint["id"])["status"] == "new"


def test_missing_fields_show_the_form_again_with_errors_and_what_was_typed(api, staff):
    complaint = api.in_status("in_progress")

    response = act(staff, complaint, "resolve", resolution_code="refund",
                   root_cause="Duplicate billing run", summary="   ")

    assert response.status_code == 422
    html = text(response)
    assert '<a href="#field-resolve-summary">Must not be blank.</a>' in html
    assert 'id="field-resolve-root_cause" name="root_cause" type="text" ' \
           'value="Duplicate billing run"' in html
    assert '<option value="refund" selected>' in html
    assert api.read(complaint["id"])["status"] == "in_progress"


def test_an_unknown_action_is_a_422_page(api, staff):
    complaint = api.opened()

    response = act(staff, complaint, "explode")

    assert response.status_code == 422
    assert "Unknown action" in text(response)


def test_an_unknown_complaint_is_a_404_page(staff):
    response = staff.get(page_path(str(uuid.uuid4())))

    assert response.status_code == 404
    assert response.mimetype == "text/html"


# -- notes ------------------------------------------------------------------------------------

def test_an_internal_note_is_added_to_the_timeline(api, staff):
    complaint = api.opened()
    path = page_path(complaint["id"])

    response = post_form(staff, path, path + "/notes", {"text": "Called the client back."},
                         follow=True)

    assert flashes(response) == ["Note added."]
    assert "Called the client back." in text(response)
    assert api.read(complaint["id"])["timeline"][-1]["action"] == "note"


def test_a_blank_note_is_a_422_and_a_closed_complaint_takes_none(api, staff):
    open_path = page_path(api.opened()["id"])
    complaint = api.in_status("closed")
    path = page_path(complaint["id"])
    assert path + "/notes" not in text(staff.get(path))  # not offered once closed

    blank = post_form(staff, open_path, open_path + "/notes", {"text": "  "})
    closed = post_form(staff, path, path + "/notes", {"text": "Too late"}, follow=True)

    assert blank.status_code == 422
    assert '<a href="#field-note-text">Must not be blank.</a>' in text(blank)
    assert flashes(closed) == ["Notes cannot be added to a closed complaint."]


# -- triage corrections -----------------------------------------------------------------------

def test_a_correction_is_previewed_with_its_new_deadlines_then_saved(api, staff):
    complaint = api.opened(severity="low")           # opened 09:00: respond 24 h, resolve 10 d
    path = page_path(complaint["id"])
    fields = {"title": "Charged twice for March", "description": "Twice.",
              "category": "billing", "severity": "critical", "version": complaint["version"]}

    preview = post_form(staff, path, path + "/triage", {**fields, "intent": "preview"})

    assert preview.status_code == 200
    html = text(preview)
    assert "Deadlines after this correction" in html
    assert "4 Mar 2025, 09:00 → <strong>3 Mar 2025, 10:00</strong>" in html   # respond by
    assert "13 Mar 2025, 09:00 → <strong>4 Mar 2025, 09:00</strong>" in html  # resolve by
    assert '<option value="critical" selected>' in html  # the form keeps the new values
    assert api.read(complaint["id"])["severity"] == "low"  # nothing saved yet

    saved = post_form(staff, path, path + "/triage", {**fields, "intent": "save"}, follow=True)

    assert flashes(saved) == ["Corrections saved."]
    stored = api.read(complaint["id"])
    assert (stored["severity"], stored["description"]) == ("critical", "Twice.")
    assert stored["respond_by"].startswith("2025-03-03T10:00")


def test_an_invalid_correction_is_a_422_and_a_late_one_a_flash(api, staff):
    complaint = api.opened()
    path = page_path(complaint["id"])

    blank = post_form(staff, path, path + "/triage", {"title": " ", "intent": "save"})
    assert blank.status_code == 422
    assert '<a href="#field-triage-title">Must not be blank.</a>' in text(blank)

    resolved = api.in_status("resolved")
    late_path = page_path(resolved["id"])
    assert "/triage" not in text(staff.get(late_path))  # not offered once resolved
    late = post_form(staff, late_path, late_path + "/triage",
                     {"title": "New title", "intent": "save"}, follow=True)
    assert flashes(late) == ["This complaint can no longer be corrected."]


# -- roles and CSRF ---------------------------------------------------------------------------

def test_an_analyst_sees_no_forms_and_a_forged_post_is_a_403(api, analyst, staff):
    complaint = api.in_status("in_progress")
    path = page_path(complaint["id"])

    html = text(analyst.get(path))

    assert buttons(analyst.get(path)) == []
    for form in ("/actions", "/notes", "/triage"):
        assert path + form not in html
    token = csrf(analyst, path)  # the analyst's own, valid token (the sign-out form has it)
    for form, data in (("/actions", {"action": "resolve", "resolution_code": "refund",
                                     "root_cause": "x", "summary": "y"}),
                       ("/notes", {"text": "Forged"}), ("/triage", {"severity": "low"})):
        response = analyst.post(path + form, data={"csrf_token": token, **data})
        assert response.status_code == 403
        assert response.mimetype == "text/html"
    stored = api.read(complaint["id"])
    assert (stored["status"], stored["severity"], len(stored["timeline"])) == (
        "in_progress", "medium", 3)


def test_a_post_without_a_valid_csrf_token_changes_nothing(api, staff, console_as):
    complaint = api.opened()
    path = page_path(complaint["id"])
    other_session = console_as("staff")
    data = {"action": "acknowledge"}

    missing = staff.post(path + "/actions", data=data)
    foreign = staff.post(path + "/actions",
                         data={**data, "csrf_token": csrf(other_session, path)})
    cross_site = staff.post(path + "/actions", data={**data, "csrf_token": csrf(staff, path)},
                            headers={"Origin": "https://evil.example"})

    assert [r.status_code for r in (missing, foreign, cross_site)] == [403, 403, 403]
    assert api.read(complaint["id"])["status"] == "new"


def test_the_reopen_window_hides_reopen_once_passed(api, staff, clock):
    complaint = api.in_status("closed")
    clock.advance(days=31)

    assert buttons(staff.get(page_path(complaint["id"]))) == []


def test_a_paused_complaint_says_so_instead_of_counting_down(api, staff, clock):
    complaint = api.in_status("awaiting_client")
    clock.advance(days=30)

    html = text(staff.get(page_path(complaint["id"])))

    assert '<span class="badge">Paused</span>' in html
    resolve_by = html.split("<dt>Resolve by</dt>")[1].split("</dd>")[0]
    assert "countdown" not in resolve_by  # its deadline passed long ago, but the clock stands
