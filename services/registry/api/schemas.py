"""Shapes of the registry's HTTP interface (SPEC §2): validation of shape at the edge."""
from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from services.registry.domain.clients import ENGAGEMENT_LEVELS, KINDS, LANGUAGES
from shared.web.fields import MoneySchema, Timestamp
from shared.web.pagination import PageArgs

CATEGORIES = sorted({category for categories in KINDS.values() for category in categories})
STATUSES = ("active", "archived", "erased")
TIERS = ("A", "B", "C")
BANDS = ("healthy", "at_risk", "critical")
SORTS = ("name", "-name", "created_at", "-created_at", "updated_at", "-updated_at",
         "annual_value", "-annual_value", "health_score", "-health_score")


class ContactSchema(ma.Schema):
    name = fields.String(required=True, validate=validate.Length(1, 200))
    email = fields.Email(load_default=None, allow_none=True, validate=validate.Length(max=254))
    phone = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=50))
    role = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=100))


class ClientInSchema(ma.Schema):
    name = fields.String(required=True, validate=validate.Length(1, 200))
    kind = fields.String(required=True, validate=validate.OneOf(tuple(KINDS)))
    category = fields.String(required=True, validate=validate.OneOf(CATEGORIES))
    contacts = fields.List(fields.Nested(ContactSchema), validate=validate.Length(max=50))
    tags = fields.List(fields.String(validate=validate.Length(1, 50)), validate=validate.Length(max=50))
    owner = fields.String(allow_none=True, validate=validate.Length(max=200))
    preferred_language = fields.String(validate=validate.OneOf(LANGUAGES))
    power = fields.Integer(strict=True, allow_none=True, validate=validate.Range(1, 5))
    interest = fields.Integer(strict=True, allow_none=True, validate=validate.Range(1, 5))
    engagement_current = fields.String(allow_none=True, validate=validate.OneOf(ENGAGEMENT_LEVELS))
    engagement_desired = fields.String(allow_none=True, validate=validate.OneOf(ENGAGEMENT_LEVELS))
    annual_value = fields.Nested(MoneySchema, allow_none=True)


class ClientPatchSchema(ClientInSchema):
    class Meta:
        partial = True

    name = fields.String(validate=validate.Length(1, 200))
    kind = fields.String(validate=validate.OneOf(tuple(KINDS)))
    category = fields.String(validate=validate.OneOf(CATEGORIES))


class ClientSchema(ma.Schema):
    id = fields.String()
    name = fields.String()
    kind = fields.String()
    category = fields.String()
    contacts = fields.List(fields.Nested(ContactSchema))
    tags = fields.List(fields.String())
    owner = fields.String(allow_none=True)
    preferred_language = fields.String()
    power = fields.Integer(allow_none=True)
    interest = fields.Integer(allow_none=True)
    engagement_strategy = fields.String(allow_none=True)
    engagement_current = fields.String(allow_none=True)
    engagement_desired = fields.String(allow_none=True)
    engagement_gap = fields.Integer(allow_none=True)
    annual_value = fields.Nested(MoneySchema, allow_none=True)
    tier = fields.String()
    satisfaction = fields.Float(allow_none=True)
    health_score = fields.Float()
    health_band = fields.String()
    status = fields.String()
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
