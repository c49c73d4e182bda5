"""Shapes of the registry's HTTP interface: validation of shape at the edge."""
from __future__ import annotations

import copy

import marshmallow as ma
from marshmallow import fields, validate

from services.registry.domain.care import CHANNELS as CARE_CHANNELS
from services.registry.domain.clients import (ENGAGEMENT_LEVELS, KEEP_INFORMED, KEEP_SATISFIED,
                                              KINDS, LANGUAGES, MANAGE_CLOSELY, MONITOR,
                                              validate_client_fields)
from shared.errors import errors_of
from shared.web.fields import MoneySchema, Timestamp, text_field
from shared.web.pagination import PageArgs
from shared.web.validation import BodySchema

CATEGORIES = sorted({category for categories in KINDS.values() for category in categories})
STATUSES = ("active", "archived", "erased")
TIERS = ("A", "B", "C")
BANDS = ("healthy", "at_risk", "critical")
STRATEGIES = (MANAGE_CLOSELY, KEEP_SATISFIED, KEEP_INFORMED, MONITOR)


def one_of(values, *, nullable: bool = False) -> dict:
    """An answer field's allowed values, for the OpenAPI document."""
    return {"enum": [*values, None] if nullable else list(values)}
SORTS = ("name", "-name", "created_at", "-created_at", "updated_at", "-updated_at",
         "annual_value", "-annual_value", "health_score", "-health_score")


class ContactSchema(ma.Schema):
    name = text_field(required=True, min_length=1, max_length=200)
    email = fields.Email(load_default=None, allow_none=True, validate=validate.Length(max=254))
    phone = text_field(load_default=None, allow_none=True, max_length=50)
    role = text_field(load_default=None, allow_none=True, max_length=100)


class ClientInSchema(BodySchema):
    name = text_field(required=True, min_length=1, max_length=200)
    kind = fields.String(required=True, validate=validate.OneOf(tuple(KINDS)))
    category = fields.String(required=True, validate=validate.OneOf(CATEGORIES), metadata={
        "description": "One of the categories of the client's kind."})
    contacts = fields.List(fields.Nested(ContactSchema), validate=validate.Length(max=50))
    tags = fields.List(text_field(min_length=1, max_length=50), validate=validate.Length(max=50))
    owner = text_field(allow_none=True, max_length=200)
    preferred_language = fields.String(validate=validate.OneOf(LANGUAGES))
    power = fields.Integer(strict=True, allow_none=True, validate=validate.Range(1, 5))
    interest = fields.Integer(strict=True, allow_none=True, validate=validate.Range(1, 5))
    engagement_current = fields.String(allow_none=True, validate=validate.OneOf(ENGAGEMENT_LEVELS))
    engagement_desired = fields.String(allow_none=True, validate=validate.OneOf(ENGAGEMENT_LEVELS))
    annual_value = fields.Nested(MoneySchema, allow_none=True)

    @classmethod
    def openapi_component(cls, derived: dict) -> dict:
        """One variant per kind, each with the categories of that kind only."""
        variants = []
        for kind, categories in KINDS.items():
            variant = copy.deepcopy(derived)
            variant["title"] = f"A client of kind {kind}"
            variant["properties"]["kind"] = {"type": "string", "enum": [kind]}
            variant["properties"]["category"] = {"type": "string", "enum": list(categories)}
            variants.append(variant)
        return {"oneOf": variants, "description": "A client: its kind decides its categories."}

    def rule_errors(self, valid, raw):
        """The domain's checks (a category of the kind, the installation's currency, the
        largest amount) on what the schema accepted; the money object as sent, so a wrong
        currency is reported beside a malformed amount. On a PATCH a category is checked
        against a kind sent with it (against the stored kind once the body's shape is right)."""
        from flask import current_app
        rules = current_app.extensions["clientloop"].extras["rules"]
        fields_ = dict(valid)
        if "annual_value" not in fields_ and isinstance(raw.get("annual_value"), dict):
            fields_["annual_value"] = raw["annual_value"]
        return errors_of(validate_client_fields, fields_, rules.clients)


class ClientPatchSchema(ClientInSchema):
    class Meta:
        partial = True

    openapi_component = None  # a category alone is checked against the stored kind

    name = text_field(min_length=1, max_length=200)
    kind = fields.String(validate=validate.OneOf(tuple(KINDS)))
    category = fields.String(validate=validate.OneOf(CATEGORIES), metadata={
        "description": "One of the categories of the client's kind (the stored one, unless "
                       "`kind` changes too)."})


class ClientSchema(ma.Schema):
    id = fields.String()
    name = fields.String()
    kind = fields.String(metadata=one_of(KINDS))
    category = fields.String(metadata=one_of(CATEGORIES))
    contacts = fields.List(fields.Nested(ContactSchema))
    tags = fields.List(fields.String())
    owner = fields.String(allow_none=True)
    preferred_language = fields.String(metadata=one_of(LANGUAGES))
    power = fields.Integer(allow_none=True)
    interest = fields.Integer(allow_none=True)
    engagement_strategy = fields.String(allow_none=True, metadata=one_of(STRATEGIES, nullable=True))
    engagement_current = fields.String(allow_none=True,
                                       metadata=one_of(ENGAGEMENT_LEVELS, nullable=True))
    engagement_desired = fields.String(allow_none=True,
                                       metadata=one_of(ENGAGEMENT_LEVELS, nullable=True))
    engagement_gap = fields.Integer(allow_none=True)
    annual_value = fields.Nested(MoneySchema, allow_none=True)
    tier = fields.String(metadata=one_of(TIERS))
    satisfaction = fields.Float(allow_none=True)
    health_score = fields.Float()
    health_band = fields.String(metadata=one_of(BANDS))
    value_at_risk = fields.Nested(MoneySchema)
    status = fields.String(metadata=one_of(STATUSES))
    version = fields.Integer()
    created_at = Timestamp()
    updated_at = Timestamp()


class ClientListArgs(PageArgs):
    kind = fields.String(validate=validate.OneOf(tuple(KINDS)))
    category = fields.String(validate=validate.OneOf(CATEGORIES))
    tag = fields.String(validate=validate.Length(1, 50))
    tier = fields.String(validate=validate.OneOf(TIERS))
    health_band = fields.String(validate=validate.OneOf(BANDS))
    status = fields.String(validate=validate.OneOf(STATUSES + ("all",)))
    q = fields.String(validate=validate.Length(1, 200))
    sort = fields.String(load_default="name", validate=validate.OneOf(SORTS))


# -- satisfaction and value records ------------------------------------------

class CauseSchema(ma.Schema):
    event_id = fields.String()
    event_type = fields.String()


class LedgerEntrySchema(ma.Schema):
    event_id = fields.String()
    event_type = fields.String()
    occurred_at = Timestamp()
    delta = fields.Float(allow_none=True)
    value = fields.Float()
    reason = fields.String()


class SatisfactionSchema(ma.Schema):
    client_id = fields.String()
    current = fields.Float(allow_none=True)
    ledger = fields.List(fields.Nested(LedgerEntrySchema))


class OpenComplaintsSchema(ma.Schema):
    low = fields.Integer()
    medium = fields.Integer()
    high = fields.Integer()
    critical = fields.Integer()


class ValueRecordSchema(ma.Schema):
    annual_value = fields.Nested(MoneySchema, allow_none=True)
    tier = fields.String(metadata=one_of(TIERS))
    open_complaints = fields.Nested(OpenComplaintsSchema)
    complaints_90d = fields.Integer()
    satisfaction = fields.Float(allow_none=True)
    health_score = fields.Float()
    health_band = fields.String(metadata=one_of(BANDS))
    value_at_risk = fields.Nested(MoneySchema)
    as_of = Timestamp(allow_none=True)


class ValueHistoryEntrySchema(ma.Schema):
    at = Timestamp()
    cause = fields.Nested(CauseSchema, allow_none=True)
    tier = fields.String(metadata=one_of(TIERS))
    health_score = fields.Float()
    health_band = fields.String(metadata=one_of(BANDS))
    value_at_risk = fields.Nested(MoneySchema)


class ValueSchema(ma.Schema):
    client_id = fields.String()
    current = fields.Nested(ValueRecordSchema)
    history = fields.List(fields.Nested(ValueHistoryEntrySchema))


# -- care ---------------------------------------------------------------------------

# Lengths and the longest frequency are the domain's (CareRules), checked there.
class InteractionInSchema(ma.Schema):
    channel = fields.String(required=True, validate=validate.OneOf(CARE_CHANNELS))
    summary = fields.String(required=True, validate=validate.Length(min=1))
    occurred_at = Timestamp(load_default=None)
    staff = fields.String(load_default=None, validate=validate.Length(min=1))


class InteractionSchema(ma.Schema):
    id = fields.String()
    client_id = fields.String()
    channel = fields.String(metadata=one_of(CARE_CHANNELS))
    summary = fields.String()
    occurred_at = Timestamp()
    staff = fields.String()
    created_at = Timestamp()
    created_by = fields.String(allow_none=True)


class InteractionListArgs(PageArgs):
    pass


class PlanInSchema(ma.Schema):
    goal = fields.String(required=True, validate=validate.Length(min=1))
    channel = fields.String(required=True, validate=validate.OneOf(CARE_CHANNELS))
    frequency_days = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    owner = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1))
    starts_on = fields.Date(load_default=None, allow_none=True)


class PlanSchema(ma.Schema):
    client_id = fields.String()
    goal = fields.String()
    channel = fields.String(metadata=one_of(CARE_CHANNELS))
    frequency_days = fields.Integer()
    owner = fields.String()
    starts_on = fields.Date()
    next_due_on = fields.Date()
    last_interaction_at = Timestamp(allow_none=True)
    version = fields.Integer()
    created_at = Timestamp()
    updated_at = Timestamp()
    updated_by = fields.String(allow_none=True)


class FollowupArgs(PageArgs):
    on = fields.Date()


class FollowupSchema(ma.Schema):
    client_id = fields.String()
    client_name = fields.String()
    kind = fields.String(metadata=one_of(KINDS))
    tier = fields.String(metadata=one_of(TIERS))
    health_band = fields.String(metadata=one_of(BANDS))
    due_on = fields.Date()
    overdue_days = fields.Integer()
    owner = fields.String()
    channel = fields.String(metadata=one_of(CARE_CHANNELS))
    goal = fields.String()
    frequency_days = fields.Integer()
    last_interaction_at = Timestamp(allow_none=True)


class FollowupPageSchema(ma.Schema):
    on = fields.Date()
    items = fields.List(fields.Nested(FollowupSchema))
    page = fields.Integer()
    per_page = fields.Integer()
    total = fields.Integer()


# -- portfolio report ---------------------------------------------------------------------------

class PortfolioFiguresSchema(ma.Schema):
    clients = fields.Integer()
    satisfaction_mean = fields.Float(allow_none=True)
    satisfaction_measured = fields.Integer()
    annual_value = fields.Nested(MoneySchema)
    value_at_risk = fields.Nested(MoneySchema)


class PortfolioSchema(PortfolioFiguresSchema):
    by_kind = fields.Dict(keys=fields.String(), values=fields.Nested(PortfolioFiguresSchema))
    by_tier = fields.Dict(keys=fields.String(), values=fields.Nested(PortfolioFiguresSchema))
    by_band = fields.Dict(keys=fields.String(), values=fields.Nested(PortfolioFiguresSchema))


# -- requirements and change requests ---------------------------------------------------------

from services.registry.domain import requirements as _req  # noqa: E402

_LIMITS = _req.DEFAULT_LIMITS
_CRITERIA = fields.List(text_field(min_length=1, max_length=_LIMITS.criterion, blank=False),
                        validate=validate.Length(max=_LIMITS.criteria),
                        metadata={"description": "Short texts, each a condition of acceptance."})
_DUE = fields.Date(allow_none=True, validate=validate.Range(min=_LIMITS.earliest,
                                                            max=_LIMITS.latest))


class RequirementInSchema(BodySchema):
    title = text_field(required=True, min_length=1, max_length=_LIMITS.title, blank=False)
    description = text_field(allow_none=True, max_length=_LIMITS.description)
    priority = fields.String(validate=validate.OneOf(_req.PRIORITIES), metadata={
        "description": "MoSCoW; default `should`."})
    source = fields.String(validate=validate.OneOf(_req.SOURCES),
                           metadata={"description": "Default `other`."})
    source_ref = text_field(allow_none=True, max_length=_LIMITS.source_ref, metadata={
        "description": "A complaint `ref`, a response id, a document name."})
    owner = text_field(allow_none=True, max_length=_LIMITS.owner)
    due_on = _DUE
    acceptance_criteria = _CRITERIA

    def rule_errors(self, valid, raw):
        return errors_of(_req.validate_requirement_fields, valid)


class RequirementPatchSchema(RequirementInSchema):
    class Meta:
        partial = True

    title = text_field(min_length=1, max_length=_LIMITS.title, blank=False, metadata={
        "description": "Baselined from `approved` on: change it through a change request."})


class HistoryEntrySchema(ma.Schema):
    at = Timestamp()
    by = fields.String()
    action = fields.String()
    from_status = fields.String(allow_none=True)
    to_status = fields.String(allow_none=True)
    changes = fields.Dict(allow_none=True)
    change_request_id = fields.String(allow_none=True)
    note = fields.String(allow_none=True)


class RequirementSchema(ma.Schema):
    id = fields.String()
    client_id = fields.String()
    title = fields.String()
    description = fields.String(allow_none=True)
    priority = fields.String(metadata=one_of(_req.PRIORITIES))
    source = fields.String(metadata=one_of(_req.SOURCES))
    source_ref = fields.String(allow_none=True)
    owner = fields.String(allow_none=True)
    due_on = fields.Date(allow_none=True)
    acceptance_criteria = fields.List(fields.String())
    status = fields.String(metadata=one_of(_req.STATUSES))
    overdue = fields.Boolean(metadata={"description": "`due_on` passed and not delivered, "
                                       "accepted, rejected or withdrawn."})
    baselined = fields.Boolean()
    allowed_actions = fields.List(fields.String(metadata=one_of(_req.ACTIONS)))
    delivered_count = fields.Integer()
    refused_count = fields.Integer()
    accepted_at = Timestamp(allow_none=True)
    version = fields.Integer()
    created_at = Timestamp()
    created_by = fields.String()
    updated_at = Timestamp()
    history = fields.List(fields.Nested(HistoryEntrySchema),
                          metadata={"description": "On the single read only."})


class RequirementListArgs(PageArgs):
    client_id = fields.UUID()
    status = fields.String(validate=validate.OneOf(_req.STATUSES))
    priority = fields.String(validate=validate.OneOf(_req.PRIORITIES))
    overdue = fields.Boolean(metadata={"description": "true: only overdue requirements; "
                                                      "false: the others."})


class ClientRequirementListArgs(PageArgs):
    status = fields.String(validate=validate.OneOf(_req.STATUSES))
    priority = fields.String(validate=validate.OneOf(_req.PRIORITIES))
    overdue = fields.Boolean()


class RequirementActionSchema(BodySchema):
    action = fields.String(required=True, validate=validate.OneOf(_req.ACTIONS), metadata={
        "description": "`refuse`, `reject` and `withdraw` need a `reason`; `deliver` a `note`; "
                       "every action takes an optional `note`."})
    reason = text_field(max_length=_LIMITS.note, blank=False)
    note = text_field(max_length=_LIMITS.note, blank=False)

    def rule_errors(self, valid, raw):
        if valid.get("action") not in _req.ACTIONS:
            return {}
        return errors_of(_req.validate_action_fields, valid["action"], valid)


class ImpactInSchema(ma.Schema):
    schedule_days = fields.Integer(required=True, strict=True, validate=validate.Range(
        -_LIMITS.max_schedule_days, _LIMITS.max_schedule_days), metadata={
        "description": "Days the change moves the delivery (negative: earlier)."})
    cost = fields.Nested(MoneySchema, allow_none=True, load_default=None)
    risk = fields.String(required=True, validate=validate.OneOf(_req.RISKS))


class ProposedSchema(ma.Schema):
    title = text_field(min_length=1, max_length=_LIMITS.title, blank=False)
    description = text_field(allow_none=True, max_length=_LIMITS.description)
    priority = fields.String(validate=validate.OneOf(_req.PRIORITIES))
    due_on = _DUE
    acceptance_criteria = _CRITERIA


class ChangeRequestInSchema(BodySchema):
    summary = text_field(required=True, min_length=1, max_length=_LIMITS.summary, blank=False)
    proposed = fields.Nested(ProposedSchema, required=True, metadata={
        "description": "New values of baselined fields (at least one)."})
    impact = fields.Nested(ImpactInSchema, required=True)

    def rule_errors(self, valid, raw):
        found = {}
        if "proposed" in valid:
            found.update(errors_of(_req.validate_proposed, valid["proposed"]))
        return found


class ImpactSchema(ma.Schema):
    schedule_days = fields.Integer()
    cost = fields.Nested(MoneySchema, allow_none=True)
    risk = fields.String(metadata=one_of(_req.RISKS))


class ChangeRequestSchema(ma.Schema):
    id = fields.String()
    requirement_id = fields.String()
    client_id = fields.String()
    summary = fields.String()
    proposed = fields.Dict()
    impact = fields.Nested(ImpactSchema)
    status = fields.String(metadata=one_of(_req.CR_STATUSES))
    allowed_actions = fields.List(fields.String(metadata=one_of(_req.CR_ACTIONS)))
    submitted_by = fields.String()
    submitted_at = Timestamp()
    decided_by = fields.String(allow_none=True)
    decided_at = Timestamp(allow_none=True)
    decision_note = fields.String(allow_none=True)
    version = fields.Integer()


class ChangeRequestListArgs(PageArgs):
    status = fields.String(validate=validate.OneOf(_req.CR_STATUSES))
    client_id = fields.UUID()


class RequirementChangeRequestListArgs(PageArgs):
    status = fields.String(validate=validate.OneOf(_req.CR_STATUSES))


class DecisionInSchema(BodySchema):
    decision = fields.String(required=True, validate=validate.OneOf(_req.DECISIONS))
    note = text_field(allow_none=True, max_length=_LIMITS.note)


class WithdrawInSchema(BodySchema):
    note = text_field(allow_none=True, max_length=_LIMITS.note)


class RequirementReportArgs(ma.Schema):
    client_id = fields.UUID()


class ChangeRequestCountsSchema(ma.Schema):
    submitted = fields.Integer(metadata={"description": "All change requests ever submitted."})
    pending = fields.Integer(metadata={"description": "Still waiting for a decision."})
    approved = fields.Integer()
    rejected = fields.Integer()
    withdrawn = fields.Integer()


class RequirementReportSchema(ma.Schema):
    client_id = fields.String(allow_none=True)
    total = fields.Integer()
    by_status = fields.Dict(keys=fields.String(metadata=one_of(_req.STATUSES)), values=fields.Integer())
    by_priority = fields.Dict(keys=fields.String(metadata=one_of(_req.PRIORITIES)),
                              values=fields.Integer())
    overdue = fields.Integer()
    change_requests = fields.Nested(ChangeRequestCountsSchema)
    approved_schedule_impact_days = fields.Integer()
    median_days_proposed_to_accepted = fields.Float(allow_none=True)
    accepted = fields.Integer()
    deliveries = fields.Integer(metadata={"description": "Requirements delivered at least once."})
    refused_deliveries_rate = fields.Float(allow_none=True, metadata={
        "description": "Percentage (0-100) of those whose delivery was refused at least once."})
