"""Shapes of the complaints HTTP interface: validation of shape at the edge.

Types, vocabularies and lengths are checked here; the domain checks its own rules again
(blank text, which fields an action takes) with the same wording, so the whole product
answers alike whoever calls it.
"""
from __future__ import annotations

from datetime import date

import marshmallow as ma
from marshmallow import fields, validate

from services.complaints.domain.complaint import TIMELINE_ACTIONS
from services.complaints.domain.fields import (ACTION_FIELDS, BLANK, validate_action_fields,
                                              validate_correction)
from services.complaints.domain.rules import DEFAULT_RULES
from services.complaints.domain.vocabulary import (CATEGORIES, CHANNELS, RESOLUTION_CODES,
                                                   SEVERITIES)
from services.complaints.domain.workflow import ACTIONS, STATUSES, parse_action
from shared.errors import ValidationFailed, errors_of
from shared.web.fields import NON_BLANK_PATTERN, TEXT_PATTERN, Timestamp, text_field
from shared.web.pagination import PageArgs
from shared.web.validation import BodySchema

LIMITS = DEFAULT_RULES.text_limits


def _text(max_length: int, *, blank: bool = True, **kwargs) -> fields.String:
    """Free text; ``blank=False`` where the domain refuses text that is only whitespace."""
    return text_field(max_length=max_length, blank=blank, **kwargs)


def _ctx():
    from flask import current_app
    return current_app.extensions["clientloop"]


class ComplaintInSchema(BodySchema):
    client_id = fields.UUID(required=True, metadata={"description": "A client known from the "
                            "registry's events; an unknown one is a 422 with Retry-After: 1."})
    channel = fields.String(required=True, validate=validate.OneOf(CHANNELS))
    category = fields.String(required=True, validate=validate.OneOf(CATEGORIES))
    severity = fields.String(required=True, validate=validate.OneOf(SEVERITIES))
    title = _text(LIMITS.title, blank=False, required=True)
    description = _text(LIMITS.description, allow_none=True)
    remedy_sought = _text(LIMITS.remedy_sought, allow_none=True,
                          metadata={"description": "What the client asks for."})
    assignee = _text(LIMITS.assignee, allow_none=True,
                     metadata={"description": "Whitespace runs are collapsed to one space."})

    def rule_errors(self, valid, raw):
        """The opening's rules (blank texts) and its client (unknown, erased)."""
        from services.complaints import service
        ctx = _ctx()
        with ctx.database.transaction() as session:
            return service.opening_errors(session, valid, ctx.extras["rules"])


class ComplaintPatchSchema(BodySchema):
    """Triage corrections, allowed until the complaint is resolved."""

    title = _text(LIMITS.title, blank=False)
    description = _text(LIMITS.description)
    category = fields.String(validate=validate.OneOf(CATEGORIES))
    severity = fields.String(validate=validate.OneOf(SEVERITIES),
                             metadata={"description": "A change recomputes the deadlines from "
                                       "opened_at and publishes complaint.reclassified."})

    def rule_errors(self, valid, raw):
        return errors_of(validate_correction, valid, _ctx().extras["rules"].text_limits)


def _action_help() -> str:
    lines = [f"`{action}`: {', '.join(ACTION_FIELDS[action]) or 'no fields'}"
             for action in ACTIONS]
    return ("The workflow action and its fields; every action also takes an optional `note`. "
            + "; ".join(lines) + ".")


class ActionInSchema(BodySchema):
    action = fields.String(required=True, metadata={"description": _action_help(),
                                                    "enum": [str(a) for a in ACTIONS]})
    assignee = fields.Raw(allow_none=True, metadata={"type": "string"})
    reason = fields.Raw(allow_none=True, metadata={"type": "string"})
    resolution_code = fields.Raw(allow_none=True, metadata={"type": "string",
                                                            "enum": list(RESOLUTION_CODES)})
    root_cause = fields.Raw(allow_none=True, metadata={"type": "string"})
    summary = fields.Raw(allow_none=True, metadata={"type": "string"})
    client_accepted = fields.Raw(allow_none=True, metadata={"type": "boolean"})
    note = fields.Raw(allow_none=True, metadata={"type": "string"})

    @classmethod
    def openapi_component(cls, derived: dict) -> dict:
        """One variant per action with exactly the fields it takes (and ``note``)."""
        variants = []
        for action in ACTIONS:
            properties = {"action": {"type": "string", "enum": [str(action)]}}
            for name in ACTION_FIELDS[action]:
                properties[name] = _action_field(name)
            properties["note"] = {"type": "string", "nullable": True, "maxLength": LIMITS.note,
                                  "pattern": TEXT_PATTERN,
                                  "description": "An optional note for the timeline."}
            variants.append({"type": "object", "title": f"{action}", "properties": properties,
                             "required": ["action", *ACTION_FIELDS[action]],
                             "additionalProperties": False})
        return {"oneOf": variants, "description": derived["properties"]["action"]["description"]}

    def rule_errors(self, valid, raw):
        """An unknown action; else what the action's own fields lack."""
        if "action" not in valid:
            return {}
        try:
            action = parse_action(valid["action"])
        except ValidationFailed as failed:
            return failed.errors
        fields_ = {name: value for name, value in valid.items() if name != "action"}
        return errors_of(validate_action_fields, action, fields_,
                         _ctx().extras["rules"].text_limits)


def _action_field(name: str) -> dict:
    if name == "resolution_code":
        return {"type": "string", "enum": list(RESOLUTION_CODES)}
    if name == "client_accepted":
        return {"type": "boolean"}
    return {"type": "string", "minLength": 1, "maxLength": getattr(LIMITS, name),
            "pattern": NON_BLANK_PATTERN}


class NoteInSchema(ma.Schema):
    text = _text(LIMITS.note, blank=False, required=True)


def one_of(values, *, nullable: bool = False) -> dict:
    """An answer field's allowed values, for the OpenAPI document."""
    return {"enum": [*map(str, values), None] if nullable else [str(value) for value in values]}


class TimelineEntrySchema(ma.Schema):
    id = fields.Integer()
    at = Timestamp()
    by = fields.String()
    action = fields.String(metadata={**one_of(TIMELINE_ACTIONS), "description":
                                     "The opening, a workflow action, a note or a correction."})
    from_status = fields.String(allow_none=True, metadata=one_of(STATUSES, nullable=True))
    to_status = fields.String(metadata=one_of(STATUSES))
    note = fields.String(allow_none=True)
    details = fields.Dict()


class ComplaintSchema(ma.Schema):
    id = fields.String()
    ref = fields.String()
    client_id = fields.String()
    client_name = fields.String(allow_none=True, metadata={
        "description": "The client's name as this service knows it from the registry's "
                       "events; null while the client is unknown here, and once erased."})
    client_tier = fields.String(allow_none=True, metadata=one_of(("A", "B", "C"), nullable=True))
    channel = fields.String(metadata=one_of(CHANNELS))
    category = fields.String(metadata=one_of(CATEGORIES))
    severity = fields.String(metadata=one_of(SEVERITIES))
    title = fields.String()
    description = fields.String()
    remedy_sought = fields.String(allow_none=True)
    status = fields.String(metadata=one_of(STATUSES))
    assignee = fields.String(allow_none=True)
    opened_at = Timestamp()
    respond_by = Timestamp()
    resolve_by = Timestamp()
    acknowledged_at = Timestamp(allow_none=True)
    resolved_at = Timestamp(allow_none=True)
    closed_at = Timestamp(allow_none=True)
    resolution_code = fields.String(allow_none=True, metadata=one_of(RESOLUTION_CODES,
                                                                     nullable=True))
    root_cause = fields.String(allow_none=True)
    resolution_summary = fields.String(allow_none=True)
    client_accepted = fields.Boolean(allow_none=True)
    overdue = fields.Boolean()
    within_sla = fields.Boolean(allow_none=True)
    time_to_acknowledge_s = fields.Integer(allow_none=True)
    time_to_resolve_s = fields.Integer(allow_none=True)
    waiting_s = fields.Integer()
    waiting_since = Timestamp(allow_none=True)
    reopen_count = fields.Integer()
    allowed_actions = fields.List(fields.String(metadata=one_of(ACTIONS)))
    client_erased = fields.Boolean()
    created_by = fields.String()
    version = fields.Integer()
    updated_at = Timestamp()
    timeline = fields.List(fields.Nested(TimelineEntrySchema),
                           metadata={"description": "On the single-complaint read only."})


class ComplaintListArgs(PageArgs):
    status = fields.String(validate=validate.OneOf([str(s) for s in STATUSES]))
    severity = fields.String(validate=validate.OneOf(SEVERITIES))
    category = fields.String(validate=validate.OneOf(CATEGORIES))
    channel = fields.String(validate=validate.OneOf(CHANNELS))
    assignee = fields.String(validate=validate.Length(1, LIMITS.assignee))
    client_id = fields.UUID()
    overdue = fields.Boolean(metadata={"description": "true: only overdue complaints (response "
                             "or resolution deadline passed, not paused); false: the others."})
    ref = fields.String(validate=validate.Length(1, 20), metadata={
        "description": "Exactly this reference (`CMP-000123`)."})
    q = text_field(blank=False, validate=[
        validate.Length(max=200), validate.Regexp(r"\s*\S", error=BLANK)],
        metadata={"description": "Text search: complaints whose reference, title, "
                                 "description or client name contains this text (trimmed), "
                                 "ignoring case; `%` and `_` are plain characters."})


_REPORT_DAYS = validate.Range(min=date(1900, 1, 1), max=date(9998, 12, 31))


class ReportArgs(ma.Schema):
    from_ = fields.Date(data_key="from", validate=_REPORT_DAYS, metadata={
        "description": "First day (inclusive), in CLIENTLOOP_TIMEZONE; default: 29 days "
                       "before `to`."})
    to = fields.Date(validate=_REPORT_DAYS,
                     metadata={"description": "Last day (inclusive); default: today."})

    @ma.validates_schema
    def _ordered(self, data, **_kwargs):
        if "from_" in data and "to" in data and data["from_"] > data["to"]:
            raise ma.ValidationError("Must not be before 'from'.", "to")


class DurationStatsSchema(ma.Schema):
    mean = fields.Float(allow_none=True)
    median = fields.Float(allow_none=True)


class ComplaintsReportSchema(ma.Schema):
    from_ = fields.String(data_key="from")
    to = fields.String()
    as_of = Timestamp()
    timezone = fields.String()
    total = fields.Integer()
    by_category = fields.Dict(keys=fields.String(), values=fields.Integer())
    by_severity = fields.Dict(keys=fields.String(), values=fields.Integer())
    by_root_cause = fields.Dict(keys=fields.String(), values=fields.Integer())
    by_channel = fields.Dict(keys=fields.String(), values=fields.Integer())
    time_to_acknowledge_s = fields.Nested(DurationStatsSchema)
    time_to_resolve_s = fields.Nested(DurationStatsSchema)
    sla_breach_rate = fields.Float(allow_none=True)
    reopen_rate = fields.Float(allow_none=True)
    backlog_by_age = fields.Dict(keys=fields.String(), values=fields.Integer(), metadata={
        "description": "Complaints open at as_of by age: lt_1d, 1_3d, 3_7d, gt_7d."})
