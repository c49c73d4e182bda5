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
