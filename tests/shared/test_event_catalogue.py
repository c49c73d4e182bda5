"""The public event catalogue: schemas, shared.events, AsyncAPI and the example subscriber.

These tests protect what an outside subscriber relies on: one JSON Schema per event type of
the specification (§3), schemas that accept what the services publish and reject what breaks
the contract, and documentation that matches the code.
"""
from __future__ import annotations

import copy
import importlib.util
import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from shared import events

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
SCHEMA_DIR = DOCS / "events"

# The §3 table of the specification, written out independently of shared.events.
CONTRACT_EVENT_TYPES = {
    "client.registered": "registry", "client.updated": "registry",
    "client.archived": "registry", "client.erased": "registry",
    "client.satisfaction.changed": "registry", "client.value.changed": "registry",
    "client.followup.due": "registry",
    "requirement.created": "registry", "requirement.status_changed": "registry",
    "requirement.changed": "registry", "change_request.submitted": "registry",
    "change_request.decided": "registry",
    "survey.published": "survey", "survey.closed": "survey",
    "survey.invitation.created": "survey", "survey.response.submitted": "survey",
    "complaint.opened": "complaints", "complaint.acknowledged": "complaints",
    "complaint.assigned": "complaints", "complaint.started": "complaints",
    "complaint.escalated": "complaints", "complaint.waiting": "complaints",
    "complaint.resumed": "complaints", "complaint.closed": "complaints",
    "complaint.reclassified": "complaints", "complaint.sla_breached": "complaints",
    "complaint.resolved": "complaints", "complaint.reopened": "complaints",
    "improvement.created": "complaints", "improvement.status_changed": "complaints",
}

# The `data (at least)` column of that table, with the action fields of the workflow events.
_COMPLAINT = ("complaint_id", "ref", "client_id", "severity")
_ACTION = (*_COMPLAINT, "by", "resolve_by")
_REQUIREMENT = ("requirement_id", "client_id", "title", "priority", "status")
_CHANGE_REQUEST = ("change_request_id", "requirement_id", "client_id", "impact", "status", "by")
_IMPROVEMENT = ("improvement_id", "title", "root_cause", "status", "from_status", "by")
CONTRACT_REQUIRED = {
    "client.registered": ("client",), "client.updated": ("client",),
    "client.archived": ("client_id",), "client.erased": ("client_id",),
    "client.satisfaction.changed": ("client_id", "previous", "current", "cause"),
    "client.value.changed": ("client_id", "tier", "annual_value", "health_score", "health_band",
                             "previous_band", "value_at_risk", "cause"),
    "client.followup.due": ("client_id", "due_on", "owner", "channel"),
    "requirement.created": _REQUIREMENT,
    "requirement.status_changed": (*_REQUIREMENT, "from_status"),
    "requirement.changed": (*_REQUIREMENT, "changes", "change_request_id"),
    "change_request.submitted": _CHANGE_REQUEST, "change_request.decided": _CHANGE_REQUEST,
    "survey.published": ("survey_id", "title"), "survey.closed": ("survey_id", "title"),
    "survey.invitation.created": ("invitation_id", "survey_id", "client_id", "language",
                                  "expires_at", "delivery"),
    "survey.response.submitted": ("response_id", "survey_id", "invitation_id", "client_id",
                                  "submitted_at", "score", "scoring_version", "nps",
                                  "nps_category", "csat", "ces", "comment"),
    "complaint.opened": (*_COMPLAINT, "category", "channel", "opened_at", "respond_by",
                         "resolve_by"),
    "complaint.acknowledged": _ACTION, "complaint.assigned": (*_ACTION, "assignee"),
    "complaint.started": _ACTION, "complaint.escalated": (*_ACTION, "reason"),
    "complaint.waiting": (*_ACTION, "reason"), "complaint.resumed": _ACTION,
    "complaint.closed": (*_ACTION, "client_accepted"),
    "complaint.reclassified": (*_COMPLAINT, "previous_severity", "respond_by", "resolve_by"),
    "complaint.sla_breached": (*_COMPLAINT, "kind", "deadline"),
    "complaint.resolved": (*_COMPLAINT, "resolution_code", "root_cause", "within_sla",
                           "time_to_resolve_s", "waiting_s"),
    "complaint.reopened": (*_COMPLAINT, "reason"),
    "improvement.created": _IMPROVEMENT, "improvement.status_changed": _IMPROVEMENT,
}
CLIENT_FIELDS = ("id", "name", "kind", "category", "tier", "tags", "owner", "preferred_language",
                 "contacts")

CLIENT_ID = "4a1d9c3e-8b2f-4e6a-b1c7-93f0e2d4a5b6"
COMPLAINT_ID = "c2f5e8a1-7d4b-4c3e-9f10-6a2b8d7e5c41"
IMPROVEMENT_ID = "5d3c2b1a-0f9e-4d8c-8b7a-6e5f4d3c2b1a"
SURVEY_ID = "7e6d5c4b-3a29-4817-8f6e-5d4c3b2a1908"
EVENT_ID = "0b7e3f0c-5d2a-4f61-9a7e-2f4c8d1e6b90"
REQUIREMENT_ID = "5b8c1d2e-3f4a-4b5c-8d6e-7f8091a2b3c4"
CHANGE_ID = "6c9d2e3f-4a5b-4c6d-9e7f-8091a2b3c4d5"
AT = "2025-03-04T08:15:30.120000Z"


def _complaint(**fields: Any) -> dict[str, Any]:
    return {"complaint_id": COMPLAINT_ID, "ref": "CMP-000042", "client_id": CLIENT_ID,
            "severity": "high", **fields}


def _action(**fields: Any) -> dict[str, Any]:
    return _complaint(by="li.wei", resolve_by="2025-03-07T08:15:30Z", **fields)


def _client() -> dict[str, Any]:
    return {"id": CLIENT_ID, "name": "华东物流集团", "kind": "external", "category": "enterprise",
            "tier": "B", "tags": ["logistics", "pilot"], "owner": "Zhang Min",
            "preferred_language": "zh-CN",
            "contacts": [{"name": "Chen Jie", "email": "chen.jie@example.com",
                          "phone": "+86 21 5555 0100", "role": "purchasing"}],
            "annual_value": {"amount": "250000.00", "currency": "CNY"}, "status": "active",
            "version": 3}


def _requirement(**fields: Any) -> dict[str, Any]:
    return {"requirement_id": REQUIREMENT_ID, "client_id": CLIENT_ID,
            "title": "Monthly usage export", "priority": "should", "status": "approved", **fields}


def _change_request(**fields: Any) -> dict[str, Any]:
    return {"change_request_id": CHANGE_ID, "requirement_id": REQUIREMENT_ID,
            "client_id": CLIENT_ID, "impact": {"schedule_days": 10, "risk": "medium",
                                               "cost": {"amount": "12000.00", "currency": "CNY"}},
            **fields}


EXAMPLES: dict[str, Any] = {
    "client.registered": lambda: {"client": _client()},
    "client.updated": lambda: {"client": _client()},
    "client.archived": lambda: {"client_id": CLIENT_ID},
    "client.erased": lambda: {"client_id": CLIENT_ID},
    "client.satisfaction.changed": lambda: {
        "client_id": CLIENT_ID, "previous": 72.5, "current": 62.5,
        "cause": {"event_id": EVENT_ID, "event_type": "complaint.opened"},
        "reason": "Complaint CMP-000042 (high) opened: −10"},
    "client.value.changed": lambda: {
        "client_id": CLIENT_ID, "tier": "B",
        "annual_value": {"amount": "250000.00", "currency": "CNY"},
        "health_score": 63.5, "health_band": "at_risk", "previous_band": "healthy",
        "value_at_risk": {"amount": "125000.00", "currency": "CNY"},
        "cause": {"event_id": EVENT_ID, "event_type": "complaint.opened"}},
    "client.followup.due": lambda: {
        "client_id": CLIENT_ID, "due_on": "2025-03-10", "owner": "Zhang Min", "channel": "phone"},
    "requirement.created": lambda: _requirement(status="proposed", by="li.wei"),
    "requirement.status_changed": lambda: _requirement(
        status="in_progress", from_status="delivered", action="refuse", by="li.wei",
        reason="The export misses the VAT column."),
    "requirement.changed": lambda: _requirement(
        changes={"due_on": "2025-05-01", "priority": "must"}, change_request_id=CHANGE_ID),
    "change_request.submitted": lambda: _change_request(status="submitted", by="li.wei"),
    "change_request.decided": lambda: _change_request(status="approved", by="wang.fang",
                                                      decision="approve", note=None),
    "survey.published": lambda: {
        "survey_id": SURVEY_ID, "title": {"zh-CN": "季度满意度调查", "en": "Quarterly satisfaction"}},
    "survey.closed": lambda: {"survey_id": SURVEY_ID, "title": {"en": "Quarterly satisfaction"}},
    "survey.invitation.created": lambda: {
        "invitation_id": "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a", "survey_id": SURVEY_ID,
        "client_id": CLIENT_ID, "language": "zh-CN", "expires_at": "2025-03-18T08:15:30Z",
        "delivery": "email"},
    "survey.response.submitted": lambda: {
        "response_id": "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d", "survey_id": SURVEY_ID,
        "invitation_id": "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a", "client_id": CLIENT_ID,
        "submitted_at": AT, "score": 81.25, "scoring_version": "2025.1", "nps": 9,
        "nps_category": "promoter", "csat": 4, "ces": 6, "comment": "响应很快，谢谢。"},
    "complaint.opened": lambda: _complaint(
        category="delivery", channel="phone", opened_at=AT,
        respond_by="2025-03-04T12:15:30.120000Z", resolve_by="2025-03-07T08:15:30.120000Z"),
    "complaint.acknowledged": lambda: _action(note="Called the client back."),
    "complaint.assigned": lambda: _action(assignee="Wang Fang"),
    "complaint.started": lambda: _action(),
    "complaint.escalated": lambda: _action(reason="Needs the carrier's account manager."),
    "complaint.waiting": lambda: _action(reason="Waiting for the delivery note."),
    "complaint.resumed": lambda: _action(),
    "complaint.closed": lambda: _action(client_accepted=True),
    "complaint.reclassified": lambda: _complaint(
        previous_severity="medium", severity="critical",
        respond_by="2025-03-04T09:15:30Z", resolve_by="2025-03-05T08:15:30Z"),
    "complaint.sla_breached": lambda: _complaint(kind="response", deadline=AT),
    "complaint.resolved": lambda: _complaint(
        resolution_code="redelivered", root_cause="carrier", within_sla=True,
        time_to_resolve_s=86400.5, waiting_s=3600),
    "complaint.reopened": lambda: _complaint(reason="The replacement was damaged too."),
    "improvement.created": lambda: {
        "improvement_id": IMPROVEMENT_ID, "title": "Renegotiate the carrier SLA",
        "root_cause": "Late delivery", "status": "planned", "from_status": None, "by": "li.wei"},
    "improvement.status_changed": lambda: {
        "improvement_id": IMPROVEMENT_ID, "title": "Renegotiate the carrier SLA",
        "root_cause": "Late delivery", "status": "in_progress", "from_status": "planned",
        "by": "li.wei", "action": "start", "note": None},
}

# Per event type, a field and a value it must refuse: outside its enumeration where the type
# has one, otherwise of the wrong format.
WRONG_VALUE = {
    "client.registered": (("client", "kind"), "partner"),
    "client.updated": (("client", "tier"), "D"),
    "client.value.changed": (("health_band",), "fine"),
    "client.followup.due": (("channel",), "letter"),
    "requirement.created": (("priority",), "urgent"),
    "requirement.status_changed": (("from_status",), "done"),
    "requirement.changed": (("status",), "done"),
    "change_request.submitted": (("status",), "pending"),
    "change_request.decided": (("impact", "risk"), "extreme"),
    "survey.invitation.created": (("delivery",), "sms"),
    "survey.response.submitted": (("nps_category",), "neutral"),
    "complaint.opened": (("category",), "weather"),
    "complaint.reclassified": (("previous_severity",), "urgent"),
    "complaint.sla_breached": (("kind",), "acknowledgement"),
    "survey.published": (("title",), {"klingon!": "Quarterly satisfaction"}),  # not a language
    "survey.closed": (("survey_id",), "not-a-uuid"),  # no enumeration: a wrong format
    "improvement.created": (("status",), "done"),
    "improvement.status_changed": (("from_status",), "started"),
}
for _name in CONTRACT_EVENT_TYPES:
    if _name.startswith("complaint.") and _name not in WRONG_VALUE:
        WRONG_VALUE[_name] = (("severity",), "urgent")
    WRONG_VALUE.setdefault(_name, (("client_id",), "not-a-uuid"))  # no enum: a wrong format


def example(name: str, **overrides: Any) -> dict[str, Any]:
    data = EXAMPLES[name]()
    data.update(overrides)
    return data


def errors(name: str, data: Any) -> list[str]:
    validator = jsonschema.Draft202012Validator(
        events.load_schema(name), format_checker=jsonschema.FormatChecker())
    return [error.message for error in validator.iter_errors(data)]


def envelope(name: str = "complaint.opened", **overrides: Any) -> dict[str, Any]:
    event = {
        "specversion": "1.0", "id": EVENT_ID, "source": f"clientloop/{CONTRACT_EVENT_TYPES[name]}",
        "type": f"clientloop.{name}.v1", "subject": CLIENT_ID, "time": AT,
        "datacontenttype": "application/json", "data": example(name),
        "sequence": "00000000000000000042",
    }
    event.update(overrides)
    return event


def schema_files() -> list[Path]:
    return sorted(SCHEMA_DIR.glob("*.json"))


# --- the catalogue ----------------------------------------------------------------------------

def test_catalogue_lists_exactly_the_event_types_of_the_spec() -> None:
    assert {name: t.publisher for name, t in events.EVENT_TYPES.items()} == CONTRACT_EVENT_TYPES


def test_every_event_type_has_a_schema_file_and_there_are_no_others() -> None:
    names = {path.name for path in schema_files()}
    expected = {f"{name}.schema.json" for name in CONTRACT_EVENT_TYPES} | {"cloudevent.schema.json"}
    assert names == expected
    for name in CONTRACT_EVENT_TYPES:
        assert events.schema_path(name) == SCHEMA_DIR / f"{name}.schema.json"
        assert events.schema_path(name).is_file()


@pytest.mark.parametrize("name", CONTRACT_EVENT_TYPES)
def test_schema_requires_the_fields_the_spec_promises(name: str) -> None:
    schema = events.load_schema(name)
    assert sorted(schema["required"]) == sorted(CONTRACT_REQUIRED[name])
    if name in ("client.registered", "client.updated"):
        assert sorted(schema["properties"]["client"]["required"]) == sorted(CLIENT_FIELDS)


@pytest.mark.parametrize("path", schema_files(), ids=lambda path: path.name)
def test_every_schema_file_is_a_valid_draft_2020_12_schema(path: Path) -> None:
    schema = json.loads(path.read_text(encoding="utf-8"))
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["type"] == "object"
    assert schema["additionalProperties"] is True
    assert schema["title"] and schema["description"]
    assert set(schema["required"]) <= set(schema["properties"])


@pytest.mark.parametrize("name", CONTRACT_EVENT_TYPES)
def test_schema_id_and_description_match_the_catalogue_declaration(name: str) -> None:
    schema = events.load_schema(name)
    declared = events.EVENT_TYPES[name]
    assert schema["$id"] == f"clientloop/events/{name}.v1"
    assert " ".join(schema["description"].split()) == " ".join(declared.description.split())
    assert declared.description.startswith(f"Published by {declared.publisher}")


def test_load_schema_returns_a_copy_the_caller_may_change() -> None:
    events.load_schema("complaint.opened")["required"].clear()
    assert "ref" in events.load_schema("complaint.opened")["required"]


def test_unknown_event_type_has_no_schema() -> None:
    with pytest.raises(KeyError):
        events.schema_path("complaint.deleted")


def test_ce_type_round_trips_through_event_name() -> None:
    for name in CONTRACT_EVENT_TYPES:
        assert events.ce_type(name) == f"clientloop.{name}.v1"
        assert events.event_name_from_ce_type(events.ce_type(name)) == name
        assert events.EVENT_TYPES[name].source == f"clientloop/{CONTRACT_EVENT_TYPES[name]}"


@pytest.mark.parametrize("value", ["complaint.opened", "clientloop.complaint.opened.v2",
                                   "org.other.complaint.opened.v1", "clientloop.complaint.v1"])
def test_event_name_from_a_foreign_ce_type_is_refused(value: str) -> None:
    with pytest.raises(ValueError):
        events.event_name_from_ce_type(value)


def test_catalogue_module_imports_no_framework_and_no_jsonschema() -> None:
    code = ("import sys, shared.events; "
            "loaded = {'flask', 'kombu', 'jsonschema', 'sqlalchemy'} & set(sys.modules); "
            "assert not loaded, loaded")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


# --- examples that must pass, and breakages that must be caught -------------------------------

@pytest.mark.parametrize("name", CONTRACT_EVENT_TYPES)
def test_example_data_of_every_event_type_validates(name: str) -> None:
    assert errors(name, example(name)) == []
    events.validate_data(name, example(name))


@pytest.mark.parametrize("name,field", [
    (name, field) for name in CONTRACT_EVENT_TYPES for field in events.load_schema(name)["required"]])
def test_data_missing_a_required_field_is_rejected(name: str, field: str) -> None:
    data = example(name)
    del data[field]
    with pytest.raises(jsonschema.ValidationError):
        events.validate_data(name, data)


@pytest.mark.parametrize("name", CONTRACT_EVENT_TYPES)
def test_data_with_a_wrong_enum_value_or_format_is_rejected(name: str) -> None:
    path, value = WRONG_VALUE[name]
    data = example(name)
    target = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    assert errors(name, data)


def test_required_nullable_fields_accept_null() -> None:
    assert errors("survey.response.submitted", example(
        "survey.response.submitted", score=None, nps=None, nps_category=None, csat=None,
        ces=None, comment=None)) == []
    assert errors("client.satisfaction.changed",
                  example("client.satisfaction.changed", previous=None)) == []
    assert errors("client.value.changed", example(
        "client.value.changed", cause=None, annual_value=None, tier=None,
        previous_band=None)) == []
    assert errors("complaint.closed", example("complaint.closed", client_accepted=None,
                                              by="system")) == []


def test_fields_not_in_the_schema_are_welcome() -> None:
    data = example("complaint.opened", tier="A", source_system="crm")
    assert errors("complaint.opened", data) == []


@pytest.mark.parametrize("secret", ["url", "token", "link"])
def test_invitation_event_carrying_the_link_is_rejected(secret: str) -> None:
    data = example("survey.invitation.created", **{secret: "https://clientloop.example/s/abc"})
    assert errors("survey.invitation.created", data)


@pytest.mark.parametrize("name,overrides", [
    ("complaint.opened", {"opened_at": "2025-03-04T08:15:30+08:00"}),  # not UTC Z
    ("complaint.opened", {"respond_by": "2025-03-04"}),
    ("complaint.opened", {"ref": "42"}),
    ("complaint.opened", {"client_id": "4a1d9c3e8b2f4e6ab1c793f0e2d4a5b6"}),
    ("client.followup.due", {"due_on": "10/03/2025"}),
    ("client.value.changed", {"value_at_risk": {"amount": 125000, "currency": "CNY"}}),
    ("client.value.changed", {"annual_value": {"amount": "1.00", "currency": "yuan"}}),
    ("client.value.changed", {"health_score": "63.5"}),
    ("complaint.resolved", {"waiting_s": -1}),
    ("complaint.resolved", {"within_sla": "yes"}),
    ("survey.response.submitted", {"score": 101}),
    ("survey.response.submitted", {"nps": 11, "nps_category": "promoter"}),
    ("survey.response.submitted", {"nps": 3, "nps_category": "promoter"}),
    ("survey.response.submitted", {"csat": 0}),
    ("survey.response.submitted", {"ces": 8}),
    ("survey.published", {"title": "Quarterly satisfaction"}),
    ("client.satisfaction.changed", {"cause": None}),
    ("client.satisfaction.changed", {"cause": {"event_id": EVENT_ID}}),
])
def test_data_breaking_a_type_or_format_is_rejected(name: str, overrides: dict) -> None:
    assert errors(name, example(name, **overrides))


def test_client_category_must_belong_to_its_kind() -> None:
    data = example("client.registered")
    data["client"]["kind"] = "internal"  # enterprise is an external category
    assert errors("client.registered", data)
    data["client"]["category"] = "stakeholder"
    assert errors("client.registered", data) == []


def test_erased_client_record_may_be_anonymised() -> None:
    data = example("client.updated")
    data["client"].update(name="", owner=None, contacts=[], status="erased")
    assert errors("client.updated", data) == []


# --- the envelope -----------------------------------------------------------------------------

def _envelope_errors(event: dict[str, Any]) -> list[str]:
    schema = events.load_envelope_schema()
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
    return [error.message for error in validator.iter_errors(event)]


@pytest.mark.parametrize("name", CONTRACT_EVENT_TYPES)
def test_a_structured_cloudevent_of_every_type_validates(name: str) -> None:
    events.validate_envelope(envelope(name))


@pytest.mark.parametrize("overrides", [
    {"specversion": "0.3"}, {"source": "clientloop/billing"}, {"type": "complaint.opened"},
    {"sequence": "42"}, {"sequence": 42}, {"time": "2025-03-04 08:15:30"},
    {"datacontenttype": "text/plain"}, {"id": "event-1"}, {"data": []},
])
def test_an_envelope_breaking_the_contract_is_rejected(overrides: dict) -> None:
    assert _envelope_errors(envelope(**overrides))


@pytest.mark.parametrize("attribute", ["specversion", "id", "source", "type", "subject", "time",
                                       "datacontenttype", "data", "sequence"])
def test_every_envelope_attribute_is_required(attribute: str) -> None:
    event = envelope()
    del event[attribute]
    assert _envelope_errors(event)


def test_validate_envelope_also_checks_the_data() -> None:
    event = envelope()
    event["data"]["severity"] = "urgent"
    with pytest.raises(jsonschema.ValidationError):
        events.validate_envelope(event)


def test_the_documented_example_envelope_is_valid() -> None:
    page = (DOCS / "events.md").read_text(encoding="utf-8")
    block = page.split("```json\n", 1)[1].split("```", 1)[0]
    events.validate_envelope(json.loads(block))


# --- AsyncAPI ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def asyncapi() -> dict[str, Any]:
    return yaml.safe_load((DOCS / "asyncapi.yaml").read_text(encoding="utf-8"))


def _resolve(document: dict[str, Any], node: Any) -> Any:
    while isinstance(node, dict) and "$ref" in node and node["$ref"].startswith("#/"):
        target: Any = document
        for part in node["$ref"][2:].split("/"):
            target = target[part]
        node = target
    return node


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [ref for value in node.values() for ref in _refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in _refs(value)]
    return []


def test_asyncapi_document_has_the_3_0_structure(asyncapi: dict[str, Any]) -> None:
    assert asyncapi["asyncapi"] == "3.0.0"
    assert set(asyncapi) <= {"asyncapi", "id", "info", "servers", "defaultContentType",
                             "channels", "operations", "components"}
    assert asyncapi["info"]["title"] and asyncapi["info"]["version"]
    server = asyncapi["servers"]["production"]
    assert (server["host"], server["protocol"]) == ("rabbitmq:5672", "amqp")
    assert asyncapi["defaultContentType"] == "application/cloudevents+json"


def test_asyncapi_has_one_channel_per_event_type_on_the_topic_exchange(
        asyncapi: dict[str, Any]) -> None:
    channels = asyncapi["channels"]
    assert sorted(channel["address"] for channel in channels.values()) == sorted(CONTRACT_EVENT_TYPES)
    for channel in channels.values():
        exchange = _resolve(asyncapi, channel["bindings"])["amqp"]["exchange"]
        assert (exchange["name"], exchange["type"], exchange["durable"]) == (
            "clientloop.events", "topic", True)
        for reference in channel["messages"].values():
            message = _resolve(asyncapi, reference)
            assert message["contentType"] == "application/cloudevents+json"
            schema_refs = [ref for ref in _refs(message["payload"]) if ref.startswith("./")]
            assert "./events/cloudevent.schema.json" in schema_refs
            assert f"./events/{channel['address']}.schema.json" in schema_refs


def test_asyncapi_references_resolve(asyncapi: dict[str, Any]) -> None:
    for ref in _refs(asyncapi):
        if ref.startswith("#/"):
            node: Any = asyncapi
            for part in ref[2:].split("/"):
                node = node[part]  # KeyError: a dangling internal reference
        else:
            assert (DOCS / ref).resolve().is_file(), ref


def test_asyncapi_operations_send_each_channels_messages(asyncapi: dict[str, Any]) -> None:
    operations = asyncapi["operations"]
    addresses = set()
    for operation in operations.values():
        assert operation["action"] in {"send", "receive"}
        channel_ref = operation["channel"]["$ref"]
        channel = _resolve(asyncapi, operation["channel"])
        addresses.add(channel["address"])
        assert {"name": CONTRACT_EVENT_TYPES[channel["address"]]} in operation["tags"]
        for message in operation["messages"]:
            assert message["$ref"].startswith(channel_ref + "/messages/")
    assert addresses == set(CONTRACT_EVENT_TYPES)


# --- the narrative --------------------------------------------------------------------------

def test_events_page_lists_every_event_type_with_its_schema() -> None:
    page = (DOCS / "events.md").read_text(encoding="utf-8")
    for name in CONTRACT_EVENT_TYPES:
        assert f"| `{name}` | {CONTRACT_EVENT_TYPES[name]} |" in page
        assert f"(events/{name}.schema.json)" in page
    for term in ("clientloop.events", "clientloop.unrouted", "application/cloudevents+json",
                 "sequence", "examples/subscriber.py", ".v1"):
        assert term in page


# --- the example subscriber -----------------------------------------------------------------

@pytest.fixture(scope="module")
def subscriber() -> Any:
    spec = importlib.util.spec_from_file_location(
        "clientloop_example_subscriber", ROOT / "examples" / "subscriber.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_subscriber_parses_a_structured_cloudevent(subscriber: Any) -> None:
    body = json.dumps(envelope(), ensure_ascii=False).encode("utf-8")
    event = subscriber.parse_event(body)
    assert event["type"] == "clientloop.complaint.opened.v1"
    assert event["data"]["ref"] == "CMP-000042"
    assert subscriber.event_name(event) == "complaint.opened"
    header, data = subscriber.format_event(event).split("\n")
    assert header == (f"clientloop.complaint.opened.v1 subject={CLIENT_ID} "
                      f"sequence=00000000000000000042 id={EVENT_ID}")
    assert json.loads(data) == event["data"]


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b"\xff\xfe",
                                  json.dumps({"specversion": "1.0"}).encode(),
                                  json.dumps(envelope(specversion="0.3")).encode()])
def test_subscriber_refuses_what_is_not_a_cloudevent(subscriber: Any, body: bytes) -> None:
    with pytest.raises(ValueError):
        subscriber.parse_event(body)


def test_subscriber_validation_reports_contract_breaks(subscriber: Any) -> None:
    validator = subscriber.SchemaValidator(SCHEMA_DIR)
    assert validator.problems(envelope("survey.response.submitted")) == []
    broken = envelope("survey.invitation.created")
    broken["data"]["token"] = "secret"
    broken["sequence"] = "7"
    problems = validator.problems(broken)
    assert any(problem.startswith("envelope: sequence") for problem in problems)
    assert any(problem.startswith("data: ") for problem in problems)
    assert validator.problems(envelope(type="clientloop.complaint.deleted.v1")) != []


class RecordingChannel:
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def __getattr__(self, method: str) -> Any:
        return lambda **kwargs: self.calls.append((method, copy.deepcopy(kwargs)))


@pytest.mark.parametrize("quorum,arguments", [(False, None), (True, {"x-queue-type": "quorum"})])
def test_subscriber_binds_its_own_durable_queue_without_redefining_the_exchange(
        subscriber: Any, quorum: bool, arguments: Any) -> None:
    channel = RecordingChannel()
    subscriber.bind_queue(channel, "crm.clientloop", ["client.#", "complaint.*"], quorum)
    assert channel.calls == [
        ("exchange_declare", {"exchange": "clientloop.events", "passive": True}),
        ("queue_declare", {"queue": "crm.clientloop", "durable": True, "arguments": arguments}),
        ("queue_bind", {"queue": "crm.clientloop", "exchange": "clientloop.events",
                        "routing_key": "client.#"}),
        ("queue_bind", {"queue": "crm.clientloop", "exchange": "clientloop.events",
                        "routing_key": "complaint.*"}),
    ]


@pytest.mark.rabbitmq
def test_subscriber_prints_and_acknowledges_events_from_rabbitmq(subscriber: Any, capsys) -> None:
    pika = pytest.importorskip("pika")
    url = "amqp://guest:guest@127.0.0.1:5672/"
    try:
        connection = pika.BlockingConnection(pika.URLParameters(url))
    except pika.exceptions.AMQPError:
        pytest.skip("RabbitMQ is not reachable on 127.0.0.1:5672")
    suffix = uuid.uuid4().hex[:8]
    exchange, queue = f"test-catalogue.{suffix}", f"test-catalogue.{suffix}.queue"
    channel = connection.channel()
    channel.exchange_declare(exchange, "topic")  # a private stand-in for clientloop.events
    try:
        subscriber.bind_queue(channel, queue, ["complaint.*"], False, exchange=exchange)
        properties = pika.BasicProperties(content_type="application/cloudevents+json",
                                          delivery_mode=2)
        for name in ("client.archived", "complaint.opened"):
            channel.basic_publish(exchange, name, json.dumps(envelope(name)).encode(),
                                  properties)
        status = subscriber.main(["--url", url, "--queue", queue, "--bind", "complaint.*",
                                  "--count", "1", "--validate", "--exchange", exchange])
        assert status == 0
        lines = capsys.readouterr().out.splitlines()
        assert lines[0].startswith("clientloop.complaint.opened.v1 ")
        assert json.loads(lines[1])["ref"] == "CMP-000042"
        assert channel.queue_declare(queue, passive=True).method.message_count == 0
    finally:
        channel.queue_delete(queue)
        channel.exchange_delete(exchange)
        connection.close()
