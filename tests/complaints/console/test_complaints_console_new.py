"""A new complaint from the console: the client found in the local directory, the fields,
errors shown with what was typed, the complaint's page after."""
from __future__ import annotations

import re

from tests.complaints.complaints_helpers import client_event, register_client
from tests.complaints.console.console_helpers import flashes, post_form, text

FIELDS = {"channel": "phone", "category": "delivery", "severity": "high",
          "title": "Deliverable two weeks late", "description": "The milestone slipped.",
          "remedy_sought": "", "assignee": ""}


def test_the_client_search_lists_known_clients_by_name(staff, complaints_ctx):
    acme = register_client(complaints_ctx, name="Acme Trading", tier="A")
    register_client(complaints_ctx, name="Globex")
    erased = register_client(complaints_ctx, name="Acme Erased")
    client_event(complaints_ctx, "client.erased", {"client_id": erased}, subject=erased)

    html = text(staff.get("/console/new?client_q=acme"))

    assert re.findall(r'name="client_id" value="([^"]+)"', html) == [acme]
    assert "Acme Trading (tier A)" in html
    assert "Globex" not in html


def test_a_picked_client_and_the_fields_open_the_complaint(api, staff, complaints_ctx):
    acme = register_client(complaints_ctx, name="Acme Trading", tier="A")

    response = post_form(staff, "/console/new", "/console/new", {"client_id": acme, **FIELDS})

    assert response.status_code == 303
    complaint_id = response.headers["Location"].rsplit("/", 1)[1]
    stored = api.read(complaint_id)
    assert (stored["client_id"], stored["severity"], stored["client_tier"], stored["assignee"],
            stored["remedy_sought"], stored["created_by"]) == (
        acme, "high", "A", None, None, "staff-user")
    page = staff.get(response.headers["Location"])
    assert flashes(page) == [f"Complaint {stored['ref']} opened."]


def test_without_a_client_every_error_is_shown_and_the_input_kept(staff, complaints_ctx):
    register_client(complaints_ctx, name="Acme Trading")

    response = post_form(staff, "/console/new", "/console/new",
                         {**FIELDS, "title": "  ", "severity": "", "client_q": "acme"})

    assert response.status_code == 422
    html = text(response)
    assert '<a href="#field-new-client_id">Choose a client.</a>' in html
    assert '<a href="#field-new-title">Must not be blank.</a>' in html
    assert '<a href="#field-new-severity">Choose one of the listed values.</a>' in html
    assert "The milestone slipped.</textarea>" in html
    assert "Acme Trading" in html  # the search results are still there to pick from


def test_an_unknown_client_id_is_a_field_error(staff):
    response = post_form(staff, "/console/new", "/console/new",
                         {**FIELDS, "client_id": "0b7c6f5e-4f7e-4d55-9c7e-7d1f3c2b1a00"})

    assert response.status_code == 422
    assert '<a href="#field-new-client_id">Unknown client.</a>' in text(response)


def test_the_errors_are_in_chinese_for_a_chinese_reader(console_as):
    client = console_as("staff", language="zh-CN")

    response = post_form(client, "/console/new", "/console/new", {**FIELDS, "title": ""})

    assert '<a href="#field-new-title">不能为空白。</a>' in text(response)
    assert '<a href="#field-new-client_id">请选择客户。</a>' in text(response)


def test_an_analyst_may_not_open_complaints(analyst, staff, api):
    page = analyst.get("/console/new")
    forged = analyst.post("/console/new", data={
        "csrf_token": re.search(r'name="csrf_token" value="([^"]+)"',
                                text(analyst.get("/console/"))).group(1),
        "client_id": api.default_client(), **FIELDS})

    assert (page.status_code, forged.status_code) == (403, 403)
    assert api.list().get_json()["total"] == 0
