"""Shapes of the survey service's HTTP interface: validation of shape at the edge.

A survey definition's own rules (types, scales, texts per language, options) live in the
domain (``validate_survey_definition``), which names every broken field by dotted path; the
schemas here only say which top-level fields exist.
"""
from __future__ import annotations

import copy
from collections.abc import Mapping
from datetime import date

import marshmallow as ma
from marshmallow import fields, validate, validates_schema

from services.survey.api import definition_doc
from services.survey.domain.aggregates import GroupBy
from services.survey.domain.definition import QuestionType, validate_survey_definition
from services.survey.domain.invitations import (DEFAULT_INVITATION_RULES, InvitationAction,
                                                LinkState)
from services.survey.domain.languages import LANGUAGES
from services.survey.domain.lifecycle import SurveyAction, SurveyStatus
from shared.errors import errors_of
from shared.web.fields import Timestamp
from shared.web.pagination import PageArgs
from shared.web.problems import ProblemSchema
from shared.web.validation import BodySchema

MAX_CLIENTS = 1000


def _ctx():
    from flask import current_app
    return current_app.extensions["clientloop"]


def _survey_in_path(session):
    """The survey the request's path names, or ``None``."""
    from flask import request
    from services.survey.adapters.orm import SurveyRecord
    survey_id = (request.view_args or {}).get("survey_id")
    return session.get(SurveyRecord, str(survey_id)) if survey_id is not None else None


class SurveyInSchema(BodySchema):
    """A survey definition: ``title``, ``intro``, ``languages``, ``questions``."""

    title = fields.Raw(required=True, metadata={"description": "Text per language."})
    intro = fields.Raw(allow_none=True, metadata={"description": "Text per language."})
    languages = fields.Raw(required=True, metadata={"description": "e.g. [\"zh-CN\", \"en\"]"})
    questions = fields.Raw(required=True, metadata={"description": "The questions, in order."})
    send_after_complaint_resolved = fields.Raw(
        allow_none=True, metadata={"description": "Invite a complaint's client when it is resolved."})

    @classmethod
    def openapi_component(cls, derived: dict) -> dict:
        return definition_doc.definition_schema()

    def rule_errors(self, valid, raw):
        """The definition's own rules, on the fields the schema accepted."""
        return errors_of(validate_survey_definition, valid, _ctx().extras["rules"].definition)


class SurveyPatchSchema(SurveyInSchema):
    title = fields.Raw()
    languages = fields.Raw()
    questions = fields.Raw()

    @classmethod
    def openapi_component(cls, derived: dict) -> dict:
        return definition_doc.changes_schema()

    def rule_errors(self, valid, raw):
        """The definition's rules on the stored draft with the accepted changes applied."""
        ctx = _ctx()
        with ctx.database.transaction() as session:
            survey = _survey_in_path(session)
            stored = dict(survey.definition) if survey is not None else {}
        return errors_of(validate_survey_definition, {**stored, **valid},
                         ctx.extras["rules"].definition)


#: Where an invitation's email stands (``delivery`` is ``email`` or ``none``).
DELIVERIES = ("email", "none")
DELIVERY_STATUSES = ("not_requested", "pending", "sending", "sent", "failed", "cancelled")


def one_of(values) -> dict:
    """An answer field's allowed values, for the OpenAPI document."""
    return {"enum": [str(value) for value in values]}


class SurveySchema(ma.Schema):
    id = fields.String()
    status = fields.String(metadata=one_of(SurveyStatus))
    title = fields.Dict(keys=fields.String(), values=fields.String())
    intro = fields.Dict(keys=fields.String(), values=fields.String(), allow_none=True)
    languages = fields.List(fields.String(metadata=one_of(LANGUAGES)))
    questions = fields.List(fields.Dict(), metadata={
        "description": "As defined; each with its type: " + ", ".join(QuestionType) + "."})
    send_after_complaint_resolved = fields.Boolean()
    allowed_actions = fields.List(fields.String(metadata=one_of(SurveyAction)))
    created_by = fields.String(allow_none=True)
    version = fields.Integer()
    created_at = Timestamp()
    updated_at = Timestamp()
    published_at = Timestamp(allow_none=True)
    closed_at = Timestamp(allow_none=True)


class SurveyListArgs(PageArgs):
    status = fields.String(validate=validate.OneOf([status.value for status in SurveyStatus]))


class JsonBoolean(fields.Boolean):
    """``true`` or ``false`` only: ``1``, ``"true"`` or ``"yes"`` are refused."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return value


class InvitationCreateSchema(BodySchema):
    """``client_id`` for one client, or ``client_ids`` for many (all invited or none)."""

    client_id = fields.UUID()
    client_ids = fields.List(fields.UUID(), validate=validate.Length(1, MAX_CLIENTS))
    language = fields.String(validate=validate.OneOf(LANGUAGES))
    expires_in_days = fields.Raw(metadata={
        "type": "integer", "minimum": DEFAULT_INVITATION_RULES.min_expiry_days,
        "maximum": DEFAULT_INVITATION_RULES.max_expiry_days,
        "default": DEFAULT_INVITATION_RULES.default_expiry_days,
        "description": "Days until the links expire."})
    allow_duplicate = JsonBoolean(load_default=False, metadata={
        "description": "true: invite even a client who already holds an open invitation to "
                       "this survey (otherwise a 409 naming it, and nothing is created)."})

    @classmethod
    def openapi_component(cls, derived: dict) -> dict:
        """Either ``client_id`` or ``client_ids``, never both; each client listed once."""
        component = copy.deepcopy(derived)
        component["properties"]["client_ids"]["uniqueItems"] = True
        component["oneOf"] = [{"required": [target], "not": {"required": [other]}}
                              for target, other in (("client_id", "client_ids"),
                                                    ("client_ids", "client_id"))]
        component["description"] = cls.__doc__.strip()
        return component

    @validates_schema(skip_on_field_errors=False, pass_original=True)
    def _one_target(self, data, original, **_kwargs):
        given = [name for name in ("client_id", "client_ids")
                 if isinstance(original, Mapping) and name in original]
        problems: dict[str, list[str]] = {}
        if len(given) != 1:
            problems["client_id"] = ["Give either client_id or client_ids."]
        seen: set = set()
        for index, client_id in enumerate(data.get("client_ids") or []):
            if client_id in seen:
                problems[f"client_ids.{index}"] = ["This client is listed twice."]
            seen.add(client_id)
        if problems:
            raise ma.ValidationError(problems)

    def rule_errors(self, valid, raw):
        """The expiry, the language against the survey's, and each client."""
        from services.survey import service
        if "client_id" in valid:
            client_ids, field_name = [str(valid["client_id"])], "client_id"
        else:
            client_ids, field_name = [str(value) for value in valid.get("client_ids") or []], "client_ids"
        ctx = _ctx()
        rules = ctx.extras["rules"]
        with ctx.database.transaction() as session:
            survey = _survey_in_path(session)
            definition = service.definition_of(survey, rules.definition) if survey else None
            clients = service.clients_by_id(session, client_ids)
        problems, _retry = service.invitation_errors(
            definition, clients, client_ids, field_name=field_name,
            language=valid.get("language"), expires_in_days=valid.get("expires_in_days"),
            now=ctx.clock(), rules=rules)
        return problems


class InvitationSchema(ma.Schema):
    id = fields.String()
    survey_id = fields.String()
    client_id = fields.String()
    client_name = fields.String(allow_none=True)
    language = fields.String(metadata=one_of(LANGUAGES))
    state = fields.String(metadata=one_of(LinkState))
    allowed_actions = fields.List(fields.String(metadata=one_of(InvitationAction)))
    url = fields.String(metadata={"description": "The new link; only in the answer that made it."})
    created_at = Timestamp()
    created_by = fields.String()
    expires_at = Timestamp()
    revoked_at = Timestamp(allow_none=True)
    answered_at = Timestamp(allow_none=True)
    complaint_id = fields.String(allow_none=True)
    links = fields.Integer(metadata={"description": "How many links were issued."})
    delivery = fields.String(metadata=one_of(DELIVERIES))
    delivery_status = fields.String(metadata=one_of(DELIVERY_STATUSES))
    delivered_at = Timestamp(allow_none=True)
    delivery_error = fields.String(allow_none=True)
    version = fields.Integer()


class InvitationItemsSchema(ma.Schema):
    items = fields.List(fields.Nested(InvitationSchema))


class OpenInvitationSchema(ma.Schema):
    id = fields.String()
    client_id = fields.String()
    created_at = fields.String(metadata={"description": "ISO 8601 in UTC"})
    expires_at = fields.String(metadata={"description": "ISO 8601 in UTC"})


class OpenInvitationProblemSchema(ProblemSchema):
    """409 on invitation create: ``errors`` names each requested field (``client_id``,
    ``client_ids.<n>``) whose client already holds an open invitation to the survey."""

    open_invitations = fields.List(fields.Nested(OpenInvitationSchema))


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


class TrendMonthSchema(ma.Schema):
    month = fields.String(metadata={"description": "YYYY-MM in CLIENTLOOP_TIMEZONE."})
    nps = fields.Float(allow_none=True)
    nps_ci95 = fields.List(fields.Float(), allow_none=True, metadata={
        "description": "[lo, hi]: NPS ± 1.96·SE, SE = √((p(1−p) + d(1−d) + 2pd)/n)·100, "
                       "clamped to [−100, 100]; null without answers."})
    answered = fields.Integer()
    changed = fields.Boolean(metadata={
        "description": "The interval does not overlap the previous month's with answers."})


class ResultsSchema(ma.Schema):
    survey_id = fields.String()
    from_ = fields.String(data_key="from", attribute="from", allow_none=True)
    to = fields.String(allow_none=True)
    group_by = fields.String(allow_none=True)
    overall = fields.Nested(MetricsSchema)
    groups = fields.List(fields.Nested(GroupSchema))
    trend = fields.List(fields.Nested(TrendMonthSchema), metadata={
        "description": "With `group_by=month`: NPS per month with its 95 % interval."})


class ResponseSchema(ma.Schema):
    id = fields.String()
    survey_id = fields.String()
    invitation_id = fields.String()
    client_id = fields.String()
    language = fields.String(metadata=one_of(LANGUAGES))
    answers = fields.Dict()
    score = fields.Float(allow_none=True)
    scoring_version = fields.String()
    submitted_at = Timestamp()


class PublicResponseInSchema(ma.Schema):
    token = fields.String(required=True, validate=validate.Length(1, 200), metadata={
        "pattern": "^[A-Za-z0-9_-]{16,128}$", "description": "The link's token (after /s/)."})
    answers = fields.Raw(required=True, metadata={
        "type": "object", "description": "{question key: answer}: a number on the scale, an "
        "option key, a list of option keys or a text, as the question's type takes."})


class PublicResponseSchema(ma.Schema):
    id = fields.String()
    survey_id = fields.String()
    score = fields.Float(allow_none=True)
    submitted_at = Timestamp()


class ThemesArgs(PageArgs, PeriodArgs):
    """A period (calendar dates, both inclusive), the responses' language, a page of themes."""

    language = fields.String(validate=validate.OneOf(LANGUAGES),
                             metadata={"description": "Only responses given in this language."})


class ThemeExampleSchema(ma.Schema):
    response_id = fields.String()
    survey_id = fields.String(metadata={"description": "Across surveys only."})
    text = fields.String(metadata={"description": "The response's comment (its text answers)."})
    language = fields.String(metadata=one_of(LANGUAGES))
    submitted_at = Timestamp()


class ThemeSchema(ma.Schema):
    theme = fields.String(metadata={"description": "The term after the synonym map."})
    terms = fields.List(fields.String(), metadata={"description": "The words seen, sorted."})
    mentions = fields.Integer(metadata={"description": "Responses mentioning the theme."})
    share = fields.Float(allow_none=True, metadata={
        "description": "mentions as a percentage of the responses with text."})
    score_mean = fields.Float(allow_none=True, metadata={
        "description": "Mean score of the responses mentioning it."})
    nps = fields.Float(allow_none=True, metadata={
        "description": "NPS (−100…100) of the responses mentioning it."})
    examples = fields.List(fields.Nested(ThemeExampleSchema), metadata={
        "description": "Up to three of its comments, newest first."})


class ThemesSchema(ma.Schema):
    survey_id = fields.String(allow_none=True)
    from_ = fields.String(data_key="from", attribute="from", allow_none=True)
    to = fields.String(allow_none=True)
    language = fields.String(allow_none=True)
    responses_with_text = fields.Integer()
    items = fields.List(fields.Nested(ThemeSchema), metadata={
        "description": "A page of the themes, most mentioned first."})
    detractor_drivers = fields.List(fields.Nested(ThemeSchema), metadata={
        "description": "Themes with at least 5 mentions, lowest NPS first."})
    page = fields.Integer()
    per_page = fields.Integer()
    total = fields.Integer(metadata={"description": "How many themes there are."})
