"""The public event catalogue: every event type ClientLoop publishes, declared once.

Each declaration says who publishes the event, when, and what its ``data`` carries; the
JSON Schema for that ``data`` lives in ``docs/events/<name>.schema.json`` and the envelope's
schema in ``docs/events/cloudevent.schema.json``. The narrative for outside systems is
``docs/events.md`` and the machine-readable map ``docs/asyncapi.yaml``.

On the bus an event's routing key is its name (``complaint.opened``) and its CloudEvents
``type`` is ``clientloop.<name>.v1`` (:func:`ce_type`). Field meanings are those of the
product specification; a schema lists what every event carries *at least* and never forbids
additional fields, so adding a field is not a new version.

This module is plain Python: no Flask, no Kombu. ``jsonschema`` is a test/tooling dependency
and is imported only when :func:`validate_data` or :func:`validate_envelope` is called.
Schemas are read from the source checkout (``docs/`` is not part of the installed package).
"""
from __future__ import annotations

import copy
import functools
import inspect
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

__all__ = [
    "CE_SPECVERSION", "CE_CONTENT_TYPE", "DATA_CONTENT_TYPE", "EXCHANGE", "UNROUTED_EXCHANGE",
    "PUBLISHERS", "SCHEMA_DIR", "ENVELOPE_SCHEMA_FILE", "EventType", "EVENT_TYPES",
    "ce_type", "ce_source", "event_name_from_ce_type", "schema_path", "load_schema",
    "load_envelope_schema", "validate_data", "validate_envelope",
]

EXCHANGE = "clientloop.events"
UNROUTED_EXCHANGE = "clientloop.unrouted"
CE_SPECVERSION = "1.0"
CE_CONTENT_TYPE = "application/cloudevents+json"
DATA_CONTENT_TYPE = "application/json"
VERSION_SUFFIX = "v1"

PUBLISHERS = ("registry", "survey", "complaints")

SCHEMA_DIR = Path(__file__).resolve().parents[1] / "docs" / "events"
ENVELOPE_SCHEMA_FILE = "cloudevent.schema.json"

_NAME = re.compile(r"^[a-z][a-z_]*(\.[a-z][a-z_]*)+$")
_CE_TYPE = re.compile(r"^clientloop\.(?P<name>[a-z][a-z_]*(?:\.[a-z][a-z_]*)+)\.v1$")


@dataclass(frozen=True)
class EventType:
    """One published event type: its routing key, publishing service and contract."""

    name: str
    publisher: str
    description: str
    schema_file: str

    @property
    def ce_type(self) -> str:
        return ce_type(self.name)

    @property
    def source(self) -> str:
        return ce_source(self.publisher)


EVENT_TYPES: dict[str, EventType] = {}


def _declare(name: str, publisher: str, description: str) -> EventType:
    if not _NAME.match(name):
        raise ValueError(f"Invalid event type name {name!r}.")
    if publisher not in PUBLISHERS:
        raise ValueError(f"Unknown publisher {publisher!r} for {name!r}.")
    if name in EVENT_TYPES:
        raise ValueError(f"Event type {name!r} declared twice.")
    event_type = EventType(name, publisher, inspect.cleandoc(description),
                           f"{name}.schema.json")
    EVENT_TYPES[name] = event_type
    return event_type


# --- registry -------------------------------------------------------------------------------

CLIENT_REGISTERED = _declare("client.registered", "registry", """
    Published by registry when staff create a client. `data.client` is the client as created:
    id, name, kind, category, tier, tags, owner, preferred_language and contacts (name, email).
    Subscribers use it to learn which clients exist (the complaints and survey services refuse
    a client id they have not seen here yet).
    """)

CLIENT_UPDATED = _declare("client.updated", "registry", """
    Published by registry when a client's record changes (staff edit, a new tier after the
    annual value changed, anonymisation after erasure). `data.client` is the whole client as
    it is now, in the same shape as client.registered, so a subscriber can replace its copy.
    """)

CLIENT_ARCHIVED = _declare("client.archived", "registry", """
    Published by registry when staff archive a client (DELETE on the client). Carries
    `client_id`. The client's records are kept; subscribers stop offering the client for new
    work but keep history.
    """)

CLIENT_ERASED = _declare("client.erased", "registry", """
    Published by registry when an admin erases a client. Carries `client_id`. Every subscriber
    must remove the personal data it holds about that client (names, contacts, free text) and
    keep only anonymous records.
    """)

CLIENT_SATISFACTION_CHANGED = _declare("client.satisfaction.changed", "registry", """
    Published by registry when a client's satisfaction index S (0-100, null while unknown)
    changes because a feedback or complaint event was applied. Carries `client_id`, `previous`
    and `current` S, and `cause` (the id and type of the event that moved it).
    """)

CLIENT_VALUE_CHANGED = _declare("client.value.changed", "registry", """
    Published by registry when a client's tier, health score or health band changes. Carries
    `client_id`, `tier`, `annual_value`, `health_score`, `health_band`, `previous_band`,
    `value_at_risk` and `cause`: the event that caused the change, or null when the daily job
    moved the 90-day complaint window. A subscriber that needs each client's tier (as the
    complaints service does for its SLAs) can keep it from this event.
    """)

CLIENT_FOLLOWUP_DUE = _declare("client.followup.due", "registry", """
    Published by registry's daily job, once per client and due date, when the client's
    communication plan says someone should contact them. Carries `client_id`, `due_on` (a
    date), `owner` and `channel`; calendars and task tools can turn it into a reminder.
    """)

REQUIREMENT_CREATED = _declare("requirement.created", "registry", """
    Published by registry when staff record a client's requirement (status `proposed`).
    Carries `requirement_id`, `client_id`, `title`, `priority`, `status` and `by`.
    """)

REQUIREMENT_STATUS_CHANGED = _declare("requirement.status_changed", "registry", """
    Published by registry when a workflow action moves a requirement (analyse, approve, start,
    deliver, accept, refuse, reject, withdraw). Carries `requirement_id`, `client_id`, `title`,
    `priority`, `status`, `from_status`, `action`, `by`, and the action's `reason` or `note`.
    """)

REQUIREMENT_CHANGED = _declare("requirement.changed", "registry", """
    Published by registry when a requirement's fields change: a direct edit before the
    baseline (`change_request_id` null) or an approved change request (`change_request_id`
    names it). Carries `requirement_id`, `client_id`, `title`, `priority`, `status`,
    `changes` (field to new value) and `change_request_id`.
    """)

CHANGE_REQUEST_SUBMITTED = _declare("change_request.submitted", "registry", """
    Published by registry when staff submit a change request against a baselined requirement.
    Carries `change_request_id`, `requirement_id`, `client_id`, `impact` (`schedule_days`,
    `cost`, `risk`), `status` (`submitted`) and `by`.
    """)

CHANGE_REQUEST_DECIDED = _declare("change_request.decided", "registry", """
    Published by registry when a change request is approved, rejected or withdrawn. Carries
    `change_request_id`, `requirement_id`, `client_id`, `impact`, `status` (the outcome) and
    `by` (who decided; never the submitter for an approval or a rejection).
    """)

# --- survey ---------------------------------------------------------------------------------

SURVEY_PUBLISHED = _declare("survey.published", "survey", """
    Published by survey when a draft survey is published and starts accepting responses.
    Carries `survey_id` and `title` (text per language). The CloudEvents subject is the
    survey id.
    """)

SURVEY_CLOSED = _declare("survey.closed", "survey", """
    Published by survey when a survey is closed and stops accepting responses. Carries
    `survey_id` and `title`. The CloudEvents subject is the survey id.
    """)

SURVEY_INVITATION_CREATED = _declare("survey.invitation.created", "survey", """
    Published by survey when a client is invited to answer a survey (by staff, or
    automatically after a complaint is resolved). Carries `invitation_id`, `survey_id`,
    `client_id`, `language`, `expires_at` and `delivery` (`email` when the suite sends it,
    `none` when staff pass the link on themselves). Never carries the link or its token:
    links are secrets shown once to whoever created the invitation.
    """)

SURVEY_RESPONSE_SUBMITTED = _declare("survey.response.submitted", "survey", """
    Published by survey when a client submits a response (feedback). Carries `response_id`,
    `survey_id`, `invitation_id`, `client_id`, `submitted_at`, `score` (0-100, null when no
    answer was scored) with the `scoring_version` that computed it, the raw answers to the
    survey's first NPS, CSAT and CES questions (`nps`, `nps_category`, `csat`, `ces`; null when
    the survey has none) and `comment` (the first text answer, or null). The registry moves the
    client's satisfaction from it.
    """)

# --- complaints -----------------------------------------------------------------------------

COMPLAINT_OPENED = _declare("complaint.opened", "complaints", """
    Published by complaints when staff record a new complaint. Carries `complaint_id`, `ref`
    (CMP-000123), `client_id`, `severity`, `category`, `channel`, `opened_at` and the SLA
    deadlines `respond_by` and `resolve_by`. The registry lowers the client's satisfaction by
    the severity's penalty and counts the complaint as open.
    """)

COMPLAINT_ACKNOWLEDGED = _declare("complaint.acknowledged", "complaints", """
    Published by complaints when staff acknowledge a new complaint (the response the
    `respond_by` deadline asks for). Carries `complaint_id`, `ref`, `client_id`, `severity`,
    `by` (the staff name) and `resolve_by`, with the action's optional `note`.
    """)

COMPLAINT_ASSIGNED = _declare("complaint.assigned", "complaints", """
    Published by complaints when a complaint is assigned to someone, in any open state.
    Carries `complaint_id`, `ref`, `client_id`, `severity`, `by`, `resolve_by` and the new
    `assignee`, with an optional `note`.
    """)

COMPLAINT_STARTED = _declare("complaint.started", "complaints", """
    Published by complaints when investigation of an acknowledged complaint starts. Carries
    `complaint_id`, `ref`, `client_id`, `severity`, `by` and `resolve_by`, with an optional
    `note`.
    """)

COMPLAINT_ESCALATED = _declare("complaint.escalated", "complaints", """
    Published by complaints when a complaint is escalated. Carries `complaint_id`, `ref`,
    `client_id`, `severity`, `by`, `resolve_by` and the escalation `reason`, with an optional
    `note`.
    """)

COMPLAINT_WAITING = _declare("complaint.waiting", "complaints", """
    Published by complaints when a complaint starts waiting for the client; its resolution
    clock pauses. Carries `complaint_id`, `ref`, `client_id`, `severity`, `by`, `resolve_by`
    and the `reason`, with an optional `note`.
    """)

COMPLAINT_RESUMED = _declare("complaint.resumed", "complaints", """
    Published by complaints when work resumes after waiting for the client. Carries
    `complaint_id`, `ref`, `client_id`, `severity`, `by` and `resolve_by`, which has moved
    later by the time spent waiting unless it had already passed; with an optional `note`.
    """)

COMPLAINT_CLOSED = _declare("complaint.closed", "complaints", """
    Published by complaints when a resolved complaint is closed, by staff or automatically
    after the closing period (then `by` is `system`). Carries `complaint_id`, `ref`,
    `client_id`, `severity`, `by`, `resolve_by` and `client_accepted` (true, false, or null
    when nobody asked the client), with an optional `note`.
    """)

COMPLAINT_RECLASSIFIED = _declare("complaint.reclassified", "complaints", """
    Published by complaints when triage changes a complaint's severity; the SLA deadlines are
    recomputed from `opened_at`. Carries `complaint_id`, `ref`, `client_id`,
    `previous_severity`, `severity`, `respond_by` and `resolve_by`. The registry moves the
    client's satisfaction by the difference between the two penalties.
    """)

COMPLAINT_SLA_BREACHED = _declare("complaint.sla_breached", "complaints", """
    Published by complaints once per complaint and kind when a deadline passes unmet: kind
    `response` (not acknowledged by `respond_by`) or `resolution` (not resolved by
    `resolve_by`). Carries `complaint_id`, `ref`, `client_id`, `severity`, `kind` and the
    `deadline` that was missed; alerting tools page someone with it.
    """)

COMPLAINT_RESOLVED = _declare("complaint.resolved", "complaints", """
    Published by complaints when a complaint is resolved. Carries `complaint_id`, `ref`,
    `client_id`, `severity`, `resolution_code`, `root_cause`, `within_sla` (resolved by the
    final `resolve_by`), `time_to_resolve_s` (wall clock from opening) and `waiting_s` (time
    spent waiting for the client). The registry gives back part of the severity's penalty;
    the survey service may send a follow-up survey.
    """)

COMPLAINT_REOPENED = _declare("complaint.reopened", "complaints", """
    Published by complaints when a resolved or closed complaint is reopened (within 30 days
    of its resolution). Carries `complaint_id`, `ref`, `client_id`, `severity` and the
    `reason`. The registry applies the severity's penalty again and counts it as open.
    """)


IMPROVEMENT_CREATED = _declare("improvement.created", "complaints", """
    Published by complaints when staff plan an improvement action (a corrective action
    addressing one root cause of complaints). Carries `improvement_id`, `title`, `root_cause`,
    `status` (`planned`), `from_status` (null) and `by`. The subject is the improvement id.
    """)

IMPROVEMENT_STATUS_CHANGED = _declare("improvement.status_changed", "complaints", """
    Published by complaints when an improvement action moves in its workflow (start, complete,
    judged effective or ineffective, cancel). Carries `improvement_id`, `title`, `root_cause`,
    `status` (the new one), `from_status` and `by`, with the `action` and an optional `note`.
    The subject is the improvement id.
    """)


# --- names ----------------------------------------------------------------------------------

def ce_type(name: str) -> str:
    """The CloudEvents ``type`` of an event type: ``clientloop.<name>.v1``."""
    if not _NAME.match(name):
        raise ValueError(f"Invalid event type name {name!r}.")
    return f"clientloop.{name}.{VERSION_SUFFIX}"


def event_name_from_ce_type(value: str) -> str:
    """The event type (routing key) named by a CloudEvents ``type``; ValueError if not ours."""
    match = _CE_TYPE.match(value)
    if match is None:
        raise ValueError(f"Not a ClientLoop v1 event type: {value!r}.")
    return match.group("name")


def ce_source(publisher: str) -> str:
    """The CloudEvents ``source`` of a publishing service: ``clientloop/<service>``."""
    if publisher not in PUBLISHERS:
        raise ValueError(f"Unknown publisher {publisher!r}.")
    return f"clientloop/{publisher}"


# --- schemas --------------------------------------------------------------------------------

def schema_path(name: str) -> Path:
    """Path of the JSON Schema for the ``data`` of event type ``name``; KeyError if unknown."""
    try:
        event_type = EVENT_TYPES[name]
    except KeyError:
        raise KeyError(f"Unknown event type {name!r}.") from None
    return SCHEMA_DIR / event_type.schema_file


@functools.lru_cache(maxsize=None)
def _read_json(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        return json.load(handle)


def load_schema(name: str) -> dict[str, Any]:
    """The JSON Schema (a fresh dict) for the ``data`` of event type ``name``."""
    return copy.deepcopy(_read_json(schema_path(name)))


def load_envelope_schema() -> dict[str, Any]:
    """The JSON Schema (a fresh dict) of the CloudEvents envelope."""
    return copy.deepcopy(_read_json(SCHEMA_DIR / ENVELOPE_SCHEMA_FILE))


@functools.lru_cache(maxsize=None)
def _validator(schema_file: str) -> Any:
    import jsonschema  # tooling dependency: imported only when validation is asked for

    schema = _read_json(SCHEMA_DIR / schema_file)
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


def validate_data(name: str, data: Mapping[str, Any]) -> None:
    """Raise ``jsonschema.ValidationError`` unless ``data`` fits event type ``name``'s schema.

    Formats (uuid, date-time, date, email) are checked. KeyError for an unknown event type.
    """
    schema_file = schema_path(name).name
    _validator(schema_file).validate(data)


def validate_envelope(envelope: Mapping[str, Any]) -> None:
    """Raise ``jsonschema.ValidationError`` unless ``envelope`` is a valid ClientLoop
    CloudEvent and its ``data`` fits the schema of the event type its ``type`` names.

    KeyError when ``type`` is well formed but names no event type of this catalogue.
    """
    _validator(ENVELOPE_SCHEMA_FILE).validate(envelope)
    validate_data(event_name_from_ce_type(envelope["type"]), envelope["data"])
