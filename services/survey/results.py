"""Reading a survey's results and responses: queries around the domain's aggregates.

* ``from`` and ``to`` are calendar dates in ``CLIENTLOOP_TIMEZONE``, both inclusive. Responses
  count by the time they were submitted; invitations by the time they were created, and an
  invitation counts as answered whenever its answer came (so the rate of a past month keeps
  rising while late answers arrive, and never exceeds 100).
* Groups by ``kind`` and ``tier`` use the client's kind and tier as the service knows them
  now (from the registry's events), ``"unknown"`` when not known.
* CSV: UTF-8 with a byte-order mark (so Excel opens Chinese text), one row per response, one
  column per question (choices of a ``multi_choice`` joined with ``;``). A cell that a
  spreadsheet would take for a formula (starting with ``=``, ``+``, ``-``, ``@``, tab or CR)
  is prefixed with ``'``.
"""
from __future__ import annotations

import csv
import io
from datetime import date, datetime, time, timedelta
from datetime import timezone as dt_timezone
from decimal import Decimal
from typing import Any, Iterable
from zoneinfo import ZoneInfo

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from services.survey import service
from services.survey.adapters.orm import (ClientEntry, InvitationRecord, ResponseRecord,
                                          SurveyRecord)
from services.survey.domain.aggregates import (InvitationFacts, ResponseFacts, summarise,
                                               summarise_groups)
from services.survey.domain.definition import SurveyDefinition
from shared.clock import as_utc, isoformat_z
from shared.errors import ValidationFailed

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
BOM = "\ufeff"


def period(start: date | None, end: date | None, timezone: str) -> tuple[datetime | None,
                                                                         datetime | None]:
    """``[from 00:00, to + 1 day 00:00)`` in the installation's zone, as aware moments."""
    if start is not None and end is not None and start > end:
        raise ValidationFailed({"from": ["Must be on or before 'to'."]})
    zone = ZoneInfo(timezone)
    lower = datetime.combine(start, time(0), zone) if start else None
    upper = datetime.combine(end + timedelta(days=1), time(0), zone) if end else None
    # In UTC, as every stored time is: SQLite compares the text, whatever the offset says.
    return (lower.astimezone(dt_timezone.utc) if lower else None,
            upper.astimezone(dt_timezone.utc) if upper else None)


def _within(statement: Select, column, lower: datetime | None, upper: datetime | None) -> Select:
    if lower is not None:
        statement = statement.where(column >= lower)
    if upper is not None:
        statement = statement.where(column < upper)
    return statement


def results(session: Session, survey: SurveyRecord, *, start: date | None, end: date | None,
            group_by: str | None, timezone: str,
            rules: service.SurveyRules = service.DEFAULT_RULES) -> dict[str, Any]:
    definition = service.definition_of(survey, rules.definition)
    lower, upper = period(start, end, timezone)
    responses = [ResponseFacts(definition=definition, answers=row.answers or {},
                               score=None if row.score is None else Decimal(row.score),
                               submitted_at=as_utc(row.submitted_at), client_kind=kind,
                               client_tier=tier)
                 for row, kind, tier in session.execute(_within(
                     select(ResponseRecord, ClientEntry.kind, ClientEntry.tier)
                     .outerjoin(ClientEntry, ClientEntry.id == ResponseRecord.client_id)
                     .where(ResponseRecord.survey_id == survey.id),
                     ResponseRecord.submitted_at, lower, upper))]
    invitations = [InvitationFacts(created_at=as_utc(created_at), answered=answered_at is not None,
                                   client_kind=kind, client_tier=tier)
                   for created_at, answered_at, kind, tier in session.execute(_within(
                       select(InvitationRecord.created_at, InvitationRecord.answered_at,
                              ClientEntry.kind, ClientEntry.tier)
                       .outerjoin(ClientEntry, ClientEntry.id == InvitationRecord.client_id)
                       .where(InvitationRecord.survey_id == survey.id),
                       InvitationRecord.created_at, lower, upper))]
    groups = []
    if group_by:
        groups = summarise_groups(responses, invitations, group_by, ZoneInfo(timezone),
                                  rules.feedback)
    return {"survey_id": survey.id, "from": start.isoformat() if start else None,
            "to": end.isoformat() if end else None, "group_by": group_by,
            "overall": summarise(responses, invitations, rules.feedback), "groups": groups}


def responses_statement(survey_id: str, start: date | None, end: date | None,
                        timezone: str) -> Select:
    lower, upper = period(start, end, timezone)
    return _within(select(ResponseRecord).where(ResponseRecord.survey_id == survey_id),
                   ResponseRecord.submitted_at, lower, upper) \
        .order_by(ResponseRecord.submitted_at, ResponseRecord.id)


def response_view(response: ResponseRecord) -> dict[str, Any]:
    return {"id": response.id, "survey_id": response.survey_id,
            "invitation_id": response.invitation_id, "client_id": response.client_id,
            "language": response.language, "answers": response.answers or {},
            "score": None if response.score is None else Decimal(response.score),
            "scoring_version": response.scoring_version,
            "submitted_at": as_utc(response.submitted_at)}


def csv_export(definition: SurveyDefinition, responses: Iterable[ResponseRecord]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    keys = [question.key for question in definition.questions]
    writer.writerow(["response_id", "invitation_id", "client_id", "submitted_at", "language",
                     "score", "scoring_version", *keys])
    for response in responses:
        answers = response.answers or {}
        score = "" if response.score is None else f"{Decimal(response.score):.2f}"
        writer.writerow([response.id, response.invitation_id, response.client_id,
                         isoformat_z(as_utc(response.submitted_at)), response.language, score,
                         response.scoring_version, *(_cell(answers.get(key)) for key in keys)])
    return BOM + buffer.getvalue()


def _cell(answer: Any) -> str:
    if answer is None:
        return ""
    if isinstance(answer, list):
        text = ";".join(str(item) for item in answer)
    else:
        text = str(answer)
    return "'" + text if text.startswith(FORMULA_STARTS) else text
