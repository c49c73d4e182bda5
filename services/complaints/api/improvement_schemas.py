"""Shapes of ``/api/v1/improvements`` and ``/api/v1/reports/root-causes``."""
from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from services.complaints.api.schemas import ReportArgs, one_of
from services.complaints.domain.improvement import (
    DESCRIPTION_MAX, IMPROVEMENT_ACTIONS, IMPROVEMENT_STATUSES, IMPROVEMENT_TIMELINE_ACTIONS,
    NOTE_MAX, OWNER_MAX, ROOT_CAUSE_MAX, TITLE_MAX)
from services.complaints.domain.vocabulary import CATEGORIES
from shared.web.fields import Timestamp, text_field
from shared.web.pagination import PageArgs
from shared.web.validation import BodySchema

_ROOT_CAUSE_HELP = ("Matched against complaints' root_cause ignoring case, after collapsing "
                    "whitespace runs to one space.")


class ImprovementInSchema(BodySchema):
    title = text_field(max_length=TITLE_MAX, blank=False, required=True)
    root_cause = text_field(max_length=ROOT_CAUSE_MAX, blank=False, required=True,
                            metadata={"description": _ROOT_CAUSE_HELP})
    description = text_field(max_length=DESCRIPTION_MAX, allow_none=True)
    category = fields.String(allow_none=True, validate=validate.OneOf(CATEGORIES))
    owner = text_field(max_length=OWNER_MAX, allow_none=True)
    due_on = fields.Date(allow_none=True)

    def rule_errors(self, valid, raw):
        errors = {}
        for name in ("title", "root_cause"):
            if isinstance(valid.get(name), str) and not valid[name].strip():
                errors[name] = ["Must not be blank."]
        return errors


class ImprovementPatchSchema(ImprovementInSchema):
    """Corrections while ``planned`` or ``in_progress``; every field optional."""

    title = text_field(max_length=TITLE_MAX, blank=False)
    root_cause = text_field(max_length=ROOT_CAUSE_MAX, blank=False,
                            metadata={"description": _ROOT_CAUSE_HELP})


_ACTION_HELP = ("`start` (planned → in_progress, sets started_at); `complete` (in_progress → "
                "done, sets done_at); `judge_effective` / `judge_ineffective` (done → effective "
                "/ ineffective, after review of the effect); `cancel` (planned or in_progress → "
                "cancelled). Each takes an optional `note`.")


class ImprovementActionInSchema(BodySchema):
    action = fields.String(required=True, validate=validate.OneOf(
        [str(a) for a in IMPROVEMENT_ACTIONS]), metadata={"description": _ACTION_HELP})
    note = text_field(max_length=NOTE_MAX, allow_none=True)


class ImprovementListArgs(PageArgs):
    status = fields.String(validate=validate.OneOf([str(s) for s in IMPROVEMENT_STATUSES]))


class EffectSideSchema(ma.Schema):
    complaints = fields.Integer(metadata={"description": "Complaints counted in the window."})
    days = fields.Float(metadata={"description": "The window's length in days (2 decimals)."})
    per_30_days = fields.Float(metadata={"description": "complaints × 30 / days (2 decimals)."})


class EffectSchema(ma.Schema):
    before = fields.Nested(EffectSideSchema, metadata={
        "description": "The 90 days before started_at."})
    after = fields.Nested(EffectSideSchema, allow_none=True, metadata={
        "description": "Since done_at, over at most 90 days; null until 14 days have passed."})
    change_percent = fields.Float(allow_none=True, metadata={
        "description": "(after − before) / before × 100; null without after or when before "
                       "is 0."})


class ImprovementEntrySchema(ma.Schema):
    id = fields.Integer()
    at = Timestamp()
    by = fields.String()
    action = fields.String(metadata=one_of(IMPROVEMENT_TIMELINE_ACTIONS))
    from_status = fields.String(allow_none=True,
                                metadata=one_of(IMPROVEMENT_STATUSES, nullable=True))
    to_status = fields.String(metadata=one_of(IMPROVEMENT_STATUSES))
    note = fields.String(allow_none=True)
    details = fields.Dict()


class ImprovementSchema(ma.Schema):
    id = fields.String()
    title = fields.String()
    root_cause = fields.String()
    description = fields.String(allow_none=True)
    category = fields.String(allow_none=True, metadata=one_of(CATEGORIES, nullable=True))
    owner = fields.String(allow_none=True)
    due_on = fields.Date(allow_none=True)
    status = fields.String(metadata=one_of(IMPROVEMENT_STATUSES))
    started_at = Timestamp(allow_none=True)
    done_at = Timestamp(allow_none=True)
    created_at = Timestamp()
    created_by = fields.String()
    updated_at = Timestamp()
    version = fields.Integer()
    allowed_actions = fields.List(fields.String(metadata=one_of(IMPROVEMENT_ACTIONS)))
    effect = fields.Nested(EffectSchema, allow_none=True, metadata={
        "description": "null until the action started; see docs/complaints.md."})
    timeline = fields.List(fields.Nested(ImprovementEntrySchema),
                           metadata={"description": "On the single read only."})


class RootCauseActionSchema(ma.Schema):
    id = fields.String()
    title = fields.String()
    status = fields.String(metadata=one_of(IMPROVEMENT_STATUSES))


class RootCauseItemSchema(ma.Schema):
    root_cause = fields.String(metadata={"description": "The most frequent spelling."})
    complaints = fields.Integer()
    share = fields.Float(metadata={"description": "% of total (2 decimals)."})
    cumulative_share = fields.Float()
    breached = fields.Integer(metadata={"description": "Complaints with an SLA breach."})
    reopened = fields.Integer(metadata={"description": "Complaints reopened at least once."})
    actions = fields.List(fields.Nested(RootCauseActionSchema))


class RootCausesReportSchema(ma.Schema):
    from_ = fields.String(data_key="from")
    to = fields.String()
    timezone = fields.String()
    total = fields.Integer(metadata={"description": "Complaints opened in the period with a "
                                                    "root cause."})
    items = fields.List(fields.Nested(RootCauseItemSchema))


RootCausesArgs = ReportArgs
