"""Shapes of the survey service's HTTP interface (SPEC §2): validation of shape at the edge.

A survey definition's own rules (types, scales, texts per language, options) live in the
domain (``validate_survey_definition``), which names every broken field by dotted path; the
schemas here only say which top-level fields exist.
"""
from __future__ import annotations

from datetime import date

import marshmallow as ma
from marshmallow import fields, validate, validates_schema

from services.survey.domain.aggregates import GroupBy
from services.survey.domain.invitations import LinkState
from services.survey.domain.languages import LANGUAGES
from services.survey.domain.lifecycle import SurveyStatus
from shared.web.fields import Timestamp
from shared.web.pagination import PageArgs

MAX_CLIENTS = 1000


class SurveyInSchema(ma.Schema):
    """A survey definition (SPEC §1.4): ``title``, ``intro``, ``languages``, ``questions``."""

    title = fields.Raw(required=True, metadata={"description": "Text per language."})
    intro = fields.Raw(allow_none=True, metadata={"description": "Text per language."})
    languages = fields.Raw(required=True, metadata={"description": "e.g. [\"zh-CN\", \"en\"]"})
    questions = fields.Raw(required=True, metadata={"description": "The questions, in order."})
    send_after_complaint_resolved = fields.Raw(
        allow_none=True, metadata={"description": "Invite a complaint's client when it is resolved."})


class SurveyPatchSchema(SurveyInSchema):
    title = fields.Raw()
    languages = fields.Raw()
    questions = fields.Raw()


class SurveySchema(ma.Schema):
    id = fields.String()
    status = fields.String()
    title = fields.Dict(keys=fields.String(), values=fields.String())
    intro = fields.Dict(keys=fields.String(), values=fields.String(), allow_none=True)
    languages = fields.List(fields.String())
    questions = fields.List(fields.Dict())
    send_after_complaint_resolved = fields.Boolean()
    allowed_actions = fields.List(fields.String())
    created_by = fields.String(allow_none=True)
    version = fields.Integer()
    created_at = Timestamp()
    updated_at = Timestamp()
    published_at = Timestamp(allow_none=True)
    closed_at = Timestamp(allow_none=True)


class SurveyListArgs(PageArgs):
    status = fields.String(validate=validate.OneOf([status.value for status in SurveyStatus]))


class InvitationCreateSchema(ma.Schema):
    """``client_id`` for one client, or ``client_ids`` for many (all invited or none)."""

    client_id = fields.UUID()
    client_ids = fields.List(fields.UUID(), validate=validate.Length(1, MAX_CLIENTS))
    language = fields.String(validate=validate.OneOf(LANGUAGES))
    expires_in_days = fields.Raw(metadata={"description": "1-365, default 30."})

    @validates_schema
    def _one_target(self, data, **_kwargs):
        if ("client_id" in data) == ("client_ids" in data):
            raise ma.ValidationError("Give either client_id or client_ids.", "client_id")
        seen: set = set()
        for index, client_id in enumerate(data.get("client_ids") or []):
            if client_id in seen:
                raise ma.ValidationError("This client is listed twice.", f"client_ids.{index}")
            seen.add(client_id)


class InvitationSchema(ma.Schema):
    id = fields.String()
    survey_id = fields.String()
    client_id = fields.String()
    client_name = fields.String(allow_none=True)
    language = fields.String()
    state = fields.String(metadata={"description": "open, answered, revoked, closed or expired"})
    allowed_actions = fields.List(fields.String())
    url = fields.String(metadata={"description": "The new link; only in the answer that made it."})
    created_at = Timestamp()
    created_by = fields.String()
    expires_at = Timestamp()
    revoked_at = Timestamp(allow_none=True)
    answered_at = Timestamp(allow_none=True)
    complaint_id = fields.String(allow_none=True)
    links = fields.Integer(metadata={"description": "How many links were issued."})
    delivery = fields.String(metadata={"description": "email or none"})
    delivery_status = fields.String(
        metadata={"description": "not_requested, pending, sending, sent, failed or cancelled"})
    delivered_at = Timestamp(allow_none=True)
    delivery_error = fields.String(allow_none=True)
    version = fields.Integer()


class InvitationItemsSchema(ma.Schema):
    items = fields.List(fields.Nested(InvitationSchema))


class InvitationListArgs(PageArgs):
    state = fields.String(validate=validate.OneOf([state.value for state in LinkState]))
    client_id = fields.UUID()


DATE_RANGE = validate.Range(min=date(1900, 1, 1), max=date(9998, 12, 31),
                            error="Must be a date from 1900-01-01 to 9998-12-31.")


class PeriodArgs(ma.Schema):
    """Calendar dates in ``CLIENTLOOP_TIMEZONE``, both inclusive."""

    start = fields.Date(data_key="from", validate=DATE_RANGE)
    end = fields.Date(data_key="to", validate=DATE_RANGE)


class ResultsArgs(PeriodArgs):
    group_by = fields.String(validate=validate.OneOf([group.value for group in GroupBy]))


class ResponsesArgs(PageArgs, PeriodArgs):
    format = fields.String(load_default="json", validate=validate.OneOf(("json", "csv")))


class ScoreSchema(ma.Schema):
    score = fields.Float(allow_none=True)
    answered = fields.Integer()


class NpsSchema(ScoreSchema):
    promoters = fields.Integer()
    passives = fields.Integer()
    detractors = fields.Integer()


class MetricsSchema(ma.Schema):
    responses = fields.Integer()
    invitations = fields.Integer()
    response_rate = fields.Float(allow_none=True)
    score_mean = fields.Float(allow_none=True)
    nps = fields.Nested(NpsSchema)
    csat = fields.Nested(ScoreSchema)
    ces = fields.Nested(ScoreSchema)


class GroupSchema(MetricsSchema):
    key = fields.String()


class ResultsSchema(ma.Schema):
    survey_id = fields.String()
    from_ = fields.String(data_key="from", attribute="from", allow_none=True)
    to = fields.String(allow_none=True)
    group_by = fields.String(allow_none=True)
    overall = fields.Nested(MetricsSchema)
    groups = fields.List(fields.Nested(GroupSchema))


class ResponseSchema(ma.Schema):
    id = fields.String()
    survey_id = fields.String()
    invitation_id = fields.String()
    client_id = fields.String()
    language = fields.String()
    answers = fields.Dict()
    score = fields.Float(allow_none=True)
    scoring_version = fields.String()
    submitted_at = Timestamp()


class PublicResponseInSchema(ma.Schema):
    token = fields.String(required=True, validate=validate.Length(1, 200))
    answers = fields.Raw(required=True, metadata={"description": "{question key: answer}"})


class PublicResponseSchema(ma.Schema):
    id = fields.String()
    survey_id = fields.String()
    score = fields.Float(allow_none=True)
    submitted_at = Timestamp()
