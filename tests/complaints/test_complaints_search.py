"""Finding complaints over HTTP: ``ref`` (exact) and ``q`` (text over ref, title, description
and client name) on the list, on SQLite and PostgreSQL; and ``client_name`` in every complaint
answer, never an erased client's."""
from __future__ import annotations

import uuid

import pytest
from sqlalchemy import delete, insert

from services.complaints.adapters.orm import KnownClientRecord
from services.complaints.adapters.repository import COMPLAINTS
from services.complaints.app import build_context, create_app
from shared.migrations import upgrade
from tests.complaints.complaints_helpers import (START, Clock, ComplaintsApi, client_event,
                                                 register_client, settings_on_dialect)


@pytest.fixture(params=["sqlite", "postgresql"])
def search_api(request, settings, tokens):
    settings = settings_on_dialect(request, settings)
    upgrade("complaints", settings.database_url("complaints"))
    ctx = build_context(settings, clock=Clock(START))
    yield ComplaintsApi(create_app(context=ctx).test_client(), ctx, tokens)
    ctx.database.dispose()


@pytest.fixture
def complaints(search_api):
    """Five complaints, an hour apart, for two clients; each text findable by one field only."""
    api = search_api
    acme = register_client(api.ctx, name="Acme Trading 华为")
    globex = register_client(api.ctx, name="Globex Ltd")
    made = {}
    for key, client, fields in (
            ("server", acme, {"title": "Server DOWN since Monday", "severity": "critical",
                              "description": "Nothing answers."}),
            ("invoice", globex, {"title": "Invoice sent twice", "severity": "low",
                                 "description": "The warehouse in Qingdao got two copies."}),
            ("percent", globex, {"title": "Refund of 100% asked", "severity": "high",
                                 "description": "Full refund."}),
            ("underscore", acme, {"title": "Field order_id is empty", "severity": "high",
                                  "description": "Seen on the portal."}),
            ("plain", globex, {"title": "Late delivery", "severity": "medium",
                               "description": "Two weeks late."})):
        made[key] = api.opened(client_id=client, **fields)
        api.clock.advance(hours=1)
    return api, made


def listed(api: ComplaintsApi, **query) -> dict:
    response = api.list(**query)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def refs(api: ComplaintsApi, **query) -> list[str]:
    return [item["ref"] for item in listed(api, per_page=200, **query)["items"]]


def test_ref_matches_exactly_one_reference(complaints):
    api, made = complaints
    ref = made["invoice"]["ref"]

    assert refs(api, ref=ref) == [ref]
    assert refs(api, ref=ref[:-1]) == []          # a prefix is not the reference
    assert refs(api, ref=ref.lower()) == []       # nor another spelling
    assert refs(api, ref="CMP-999999") == []


@pytest.mark.parametrize("field, text, expected", [
    ("ref", "000003", ["percent"]),
    ("title", "twice", ["invoice"]),
    ("description", "qingdao", ["invoice"]),
    ("client name", "globex", ["plain", "percent", "invoice"]),
    ("client name, not Latin", "华为", ["underscore", "server"]),
])
def test_q_searches_ref_title_description_and_client_name(complaints, field, text, expected):
    api, made = complaints

    assert refs(api, q=text) == [made[key]["ref"] for key in expected], field


def test_q_ignores_case_and_surrounding_spaces(complaints):
    api, made = complaints

    assert refs(api, q="server down") == [made["server"]["ref"]]
    assert refs(api, q="  SERVER DOWN ") == [made["server"]["ref"]]
    assert refs(api, q="cmp-000002") == [made["invoice"]["ref"]]
    assert refs(api, q="ACME trading") == [made["underscore"]["ref"], made["server"]["ref"]]


def test_q_takes_like_wildcards_literally(complaints):
    api, made = complaints

    assert refs(api, q="%") == [made["percent"]["ref"]]
    assert refs(api, q="100%") == [made["percent"]["ref"]]
    assert refs(api, q="_") == [made["underscore"]["ref"]]
    assert refs(api, q="order_id") == [made["underscore"]["ref"]]
    assert refs(api, q="order%id") == []
    assert refs(api, q="\\") == []


def test_q_and_ref_combine_with_the_other_filters(complaints):
    api, made = complaints

    assert refs(api, q="globex", severity="high") == [made["percent"]["ref"]]
    assert refs(api, q="e", severity="critical") == [made["server"]["ref"]]
    assert refs(api, q="globex", ref=made["plain"]["ref"]) == [made["plain"]["ref"]]
    assert refs(api, q="acme", ref=made["plain"]["ref"]) == []
    api.acted(made["invoice"]["id"], "acknowledge")
    assert refs(api, q="globex", status="new") == [made["plain"]["ref"], made["percent"]["ref"]]


def test_a_search_is_paged_newest_first_with_its_total(complaints):
    api, made = complaints
    newest_first = [made[key]["ref"] for key in ("plain", "underscore", "percent", "invoice",
                                                 "server")]

    pages = [listed(api, q="cmp-", per_page=2, page=page) for page in (1, 2, 3, 4)]

    assert [page["total"] for page in pages] == [5, 5, 5, 5]
    assert [[item["ref"] for item in page["items"]] for page in pages] == [
        newest_first[:2], newest_first[2:4], newest_first[4:], []]
    assert listed(api, q="globex", per_page=1, page=2)["items"][0]["ref"] == made["percent"]["ref"]


@pytest.mark.parametrize("query, problem", [
    ({"q": ""}, "Must not be blank."),
    ({"q": "   "}, "Must not be blank."),
    ({"q": "x" * 201}, "Longer than maximum length 200."),
    ({"ref": ""}, "Length must be between 1 and 20."),
    ({"ref": "CMP-" + "0" * 30}, "Length must be between 1 and 20."),
])
def test_a_blank_or_overlong_search_is_422(search_api, query, problem):
    response = search_api.list(**query)

    assert response.status_code == 422, response.get_json()
    assert response.get_json()["errors"] == {name: [problem] for name in query}


# -- client_name ---------------------------------------------------------------------------

def test_every_complaint_answer_names_the_client(search_api):
    api = search_api
    client_id = register_client(api.ctx, name="Li Na 李娜")

    opened = api.opened(client_id=client_id)
    read = api.read(opened["id"])
    patched = api.patch(opened["id"], {"title": "Charged three times"}).get_json()
    acted = api.acted(opened["id"], "acknowledge")
    [item] = listed(api)["items"]

    for answer in (opened, read, patched, acted, item):
        assert answer["client_name"] == "Li Na 李娜"
        assert answer["client_id"] == client_id


def test_the_name_follows_the_registry_and_is_null_for_a_client_not_known_here(search_api):
    api = search_api
    client_id = register_client(api.ctx, name="Old Name")
    complaint = api.opened(client_id=client_id)
    client_event(api.ctx, "client.updated", {"client": {
        "id": client_id, "name": "New Name", "tier": "B", "status": "active"}},
        subject=client_id, at=api.clock.advance(minutes=1))

    assert api.read(complaint["id"])["client_name"] == "New Name"
    assert refs(api, q="new name") == [complaint["ref"]]
    assert refs(api, q="old name") == []

    stranger = str(uuid.uuid4())   # e.g. a complaint loaded before its client's registration
    with api.ctx.database.transaction() as session:
        session.execute(insert(COMPLAINTS).values(**{
            **{name: complaint[name] for name in (
                "channel", "category", "severity", "title", "description", "status",
                "client_tier", "waiting_s", "reopen_count", "version")},
            "id": str(uuid.uuid4()), "ref": "CMP-900001", "client_id": stranger,
            "opened_at": START, "respond_by": START, "resolve_by": START, "updated_at": START,
            "pause_extension_s": 0, "response_breach_published": False,
            "resolution_breach_published": False, "client_erased": False,
            "created_by": "import"}))
        session.execute(delete(KnownClientRecord).where(KnownClientRecord.id == client_id))
    items = {item["ref"]: item for item in listed(api)["items"]}

    assert items["CMP-900001"]["client_name"] is None
    assert items[complaint["ref"]]["client_name"] is None
    assert api.read(complaint["id"])["client_name"] is None


def test_an_erased_clients_name_is_never_answered_again(search_api):
    api = search_api
    client_id = register_client(api.ctx, name="Zhang San")
    other = api.opened(title="Someone else's complaint")
    headers = api.headers(**{"Idempotency-Key": "open-zhang"})
    first = api.open(client_id=client_id, headers=headers, title="Late parcel")
    assert first.get_json()["client_name"] == "Zhang San"
    complaint = first.get_json()

    client_event(api.ctx, "client.erased", {"client_id": client_id}, subject=client_id)
    client_event(api.ctx, "client.updated", {"client": {    # late, older: ignored
        "id": client_id, "name": "Zhang San", "tier": "B", "status": "active"}},
        subject=client_id, at=START)

    assert api.read(complaint["id"])["client_name"] is None
    assert [item["client_name"] for item in listed(api, client_id=client_id)["items"]] == [None]
    assert refs(api, q="zhang") == []
    assert refs(api, q=complaint["ref"]) == [complaint["ref"]]
    replay = api.open(client_id=client_id, headers=headers, title="Late parcel")
    assert replay.status_code == 201 and replay.get_json()["id"] == complaint["id"]
    assert "Zhang San" not in replay.get_data(as_text=True)
    assert api.read(other["id"])["client_name"] == "华为 Huawei"


def test_the_openapi_document_describes_the_search_and_the_name(search_api):
    document = search_api.client.get("/openapi.json").get_json()
    operation = document["paths"]["/api/v1/complaints"]["get"]
    parameters = {parameter["name"]: parameter for parameter in operation["parameters"]}
    complaint = document["components"]["schemas"]["Complaint"]["properties"]

    assert parameters["ref"]["in"] == parameters["q"]["in"] == "query"
    assert parameters["q"]["schema"]["maxLength"] == 200
    assert "description" in parameters["q"]["schema"] or "description" in parameters["q"]
    assert complaint["client_name"]["type"] == "string"
    assert complaint["client_name"].get("nullable") is True
