"""Reading a survey's results and responses: queries around the domain's aggregates.

* ``from`` and ``to`` are calendar dates in ``CLIENTLOOP_TIMEZONE``, both inclusive. Responses
  count by the time they were submitted; invitations by the time they were created, and an
  invitation counts as answered whenever its answer came (so the rate of a past month keeps
  rising while late answers arrive, and never exceeds 100).
* Groups by ``kind`` and ``tier`` use the client's kind and tier as the service knows them
  now (from the registry's events), ``"unknown"`` when not known.
* The database counts: responses grouped by their answers to the survey's first NPS, CSAT and
  CES questions (each read from the JSON once), invitations by whether they were answered;
  per month, one range scan of the survey's index a month. A few hundred rows come back
  whatever the number of responses, and the domain turns them into figures
  (``aggregates.tally_of_alike``, ``aggregates.metrics``).
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
from typing import Any, Iterable, Iterator
from zoneinfo import ZoneInfo

from sqlalchemy import Select, func, literal_column, select
from sqlalchemy.orm import Session

from services.survey import service
from services.survey.adapters.orm import (ClientEntry, InvitationRecord, ResponseRecord,
                                          SurveyRecord)
from services.survey.domain.aggregates import (UNKNOWN_GROUP, Alike, GroupBy, Tally, metrics,
                                               tally_of_alike)
from services.survey.domain.definition import QuestionType, SurveyDefinition
from services.survey.domain.scoring import FeedbackRules
from shared.clock import as_utc, isoformat_z
from shared.errors import ValidationFailed

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
GROUP_KEY = "group_key"
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
    """``M`` overall and per group. The database counts (``Tally``: responses grouped by their
    answers to the first NPS, CSAT and CES questions, invitations by whether they were
    answered), so the cost does not grow with what Python holds; the figures are the
    domain's (``aggregates.metrics``)."""
    definition = service.definition_of(survey, rules.definition)
    lower, upper = period(start, end, timezone)
    zone = ZoneInfo(timezone)
    tallies: dict[str, Tally] = {}
    for counted in (_response_tallies(session, survey.id, definition, group_by, lower, upper,
                                      zone, rules.feedback),
                    _invitation_tallies(session, survey.id, group_by, lower, upper, zone)):
        for key, tally in counted.items():
            tallies[key] = tallies.get(key, Tally()) + tally
    overall = sum(tallies.values(), Tally())
    groups = []
    if group_by:
        groups = [{"key": key, **metrics(tallies[key], rules.feedback)}
                  for key in sorted(tallies)]
    return {"survey_id": survey.id, "from": start.isoformat() if start else None,
            "to": end.isoformat() if end else None, "group_by": group_by,
            "overall": metrics(overall, rules.feedback), "groups": groups}


def months_between(first: datetime | None, last: datetime | None,
                   zone: ZoneInfo) -> list[tuple[str, datetime, datetime]]:
    """Each month from ``first``'s to ``last``'s in ``zone``: ``(YYYY-MM, its first instant,
    the next month's first instant)``, instants in UTC."""
    if first is None or last is None:
        return []
    current = as_utc(first).astimezone(zone).date().replace(day=1)
    final = as_utc(last).astimezone(zone).date().replace(day=1)
    months = []
    while current <= final:
        following = (current + timedelta(days=32)).replace(day=1)
        months.append((current.strftime("%Y-%m"), _instant(current, zone),
                       _instant(following, zone)))
        current = following
    return months


def _instant(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), zone).astimezone(dt_timezone.utc)


def _slices(session: Session, column, survey_column, survey_id: str, group_by: str | None,
            lower: datetime | None, upper: datetime | None,
            zone: ZoneInfo) -> list[tuple[str, datetime | None, datetime | None]]:
    """The time ranges counted one by one: each month there is something in (by month; a
    range scan of the survey's index each, cheaper than a ``CASE`` on every row), else the
    whole period."""
    if group_by != GroupBy.MONTH:
        return [("", lower, upper)]
    first, last = session.execute(_within(
        select(func.min(column), func.max(column)).where(survey_column == survey_id),
        column, lower, upper)).one()
    return [(key, _later(lower, begins), _earlier(upper, ends))
            for key, begins, ends in months_between(first, last, zone)]


def _later(one: datetime | None, other: datetime) -> datetime:
    return other if one is None else max(one, other)


def _earlier(one: datetime | None, other: datetime) -> datetime:
    return other if one is None else min(one, other)


def _client_group(group_by: str | None):
    """The SQL of a row's kind or tier group (``unknown`` when not known), else ``None``."""
    match group_by:
        case GroupBy.KIND:
            return func.coalesce(func.nullif(ClientEntry.kind, ""), UNKNOWN_GROUP)
        case GroupBy.TIER:
            return func.coalesce(func.nullif(ClientEntry.tier, ""), UNKNOWN_GROUP)
    return None


def _response_tallies(session: Session, survey_id: str, definition: SurveyDefinition,
                      group_by: str | None, lower, upper, zone: ZoneInfo,
                      rules: FeedbackRules) -> dict[str, Tally]:
    """Responses counted by group and by their answers to the first NPS, CSAT and CES
    questions (each answer read from the JSON once per row; a few hundred rows come back);
    the domain reads each combination (``tally_of_alike``)."""
    answers = [column.label(name) for name, column in (
        ("nps", _first_answer(definition, QuestionType.NPS)),
        ("csat", _first_answer(definition, QuestionType.CSAT)),
        ("ces", _first_answer(definition, QuestionType.CES))) if column is not None]
    client_group = _client_group(group_by)
    columns = [*answers, func.count().label("responses"),
               func.count(ResponseRecord.score).label("scored"),
               # in hundredths, so that SQLite (which keeps a score as a float) sums exactly
               func.sum(func.round(ResponseRecord.score * 100)).label("score_cents")]
    if client_group is not None:
        columns.insert(0, client_group.label(GROUP_KEY))
    names = ([GROUP_KEY] if client_group is not None else []) + [a.name for a in answers]
    alike: dict[str, list[Alike]] = {}
    for key, begins, ends in _slices(session, ResponseRecord.submitted_at,
                                     ResponseRecord.survey_id, survey_id, group_by, lower,
                                     upper, zone):
        statement = select(*columns).where(ResponseRecord.survey_id == survey_id)
        if client_group is not None:
            statement = statement.outerjoin(ClientEntry,
                                            ClientEntry.id == ResponseRecord.client_id)
        statement = _within(statement, ResponseRecord.submitted_at, begins, ends)
        statement = statement.group_by(*[literal_column(name) for name in names])
        for row in session.execute(statement).mappings():
            group = row[GROUP_KEY] if client_group is not None else key
            alike.setdefault(group, []).append(Alike(
                row["responses"], scored=row["scored"],
                score_sum=Decimal(int(row["score_cents"] or 0)) / 100,
                nps=row.get("nps"), csat=row.get("csat"), ces=row.get("ces")))
    return {group: tally_of_alike(rows, rules) for group, rows in alike.items()}


def _first_answer(definition: SurveyDefinition, question_type: QuestionType):
    """The SQL of the integer answer to the survey's first question of a type, or ``None``
    when the survey has no such question."""
    question = definition.first_of(question_type)
    if question is None:
        return None
    return ResponseRecord.answers[question.key].as_integer()


def _invitation_tallies(session: Session, survey_id: str, group_by: str | None, lower, upper,
                        zone: ZoneInfo) -> dict[str, Tally]:
    client_group = _client_group(group_by)
    columns = [func.count().label("invitations"),
               func.count(InvitationRecord.answered_at).label("answered")]
    if client_group is not None:
        columns.insert(0, client_group.label(GROUP_KEY))
    tallies: dict[str, Tally] = {}
    for key, begins, ends in _slices(session, InvitationRecord.created_at,
                                     InvitationRecord.survey_id, survey_id, group_by, lower,
                                     upper, zone):
        statement = select(*columns).where(InvitationRecord.survey_id == survey_id)
        if client_group is not None:
            statement = statement.outerjoin(ClientEntry,
                                            ClientEntry.id == InvitationRecord.client_id) \
                .group_by(literal_column(GROUP_KEY))
        statement = _within(statement, InvitationRecord.created_at, begins, ends)
        for row in session.execute(statement).mappings():
            if row["invitations"]:
                group = row[GROUP_KEY] if client_group is not None else key
                tallies[group] = Tally(invitations=row["invitations"],
                                       invitations_answered=row["answered"])
    return tallies


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
    return "".join(csv_chunks(definition, responses))


def csv_chunks(definition: SurveyDefinition, responses: Iterable[ResponseRecord], *,
               rows_per_chunk: int = 500) -> Iterator[str]:
    """The CSV export in pieces (the byte-order mark and header first, then a few hundred rows
    at a time), for a response that streams it."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    keys = [question.key for question in definition.questions]
    writer.writerow(["response_id", "invitation_id", "client_id", "submitted_at", "language",
                     "score", "scoring_version", *keys])
    yield BOM + _drain(buffer)
    written = 0
    for response in responses:
        answers = response.answers or {}
        score = "" if response.score is None else f"{Decimal(response.score):.2f}"
        writer.writerow([response.id, response.invitation_id, response.client_id,
                         isoformat_z(as_utc(response.submitted_at)), response.language, score,
                         response.scoring_version, *(_cell(answers.get(key)) for key in keys)])
        written += 1
        if written % rows_per_chunk == 0:
            yield _drain(buffer)
    rest = _drain(buffer)
    if rest:
        yield rest


def _drain(buffer: io.StringIO) -> str:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text


def _cell(answer: Any) -> str:
    if answer is None:
        return ""
    if isinstance(answer, list):
        text = ";".join(str(item) for item in answer)
    else:
        text = str(answer)
    return "'" + text if text.startswith(FORMULA_STARTS) else text
