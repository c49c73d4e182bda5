"""Reading a survey's results and responses: queries around the domain's aggregates.

* ``from`` and ``to`` are calendar dates in ``CLIENTLOOP_TIMEZONE``, both inclusive. Responses
  count by the time they were submitted; invitations by the time they were created, and an
  invitation counts as answered whenever its answer came (so the rate of a past month keeps
  rising while late answers arrive, and never exceeds 100).
* Groups by ``kind`` and ``tier`` use the client's kind and tier as the service knows them
  now (from the registry's events), ``"unknown"`` when not known.
* The database counts, one statement for the responses and one for the invitations (after a
  look at the first and last moment when by month): responses, scores, NPS promoters,
  passives and detractors, CSAT and CES answers from the columns in which each response keeps
  its answers to the survey's first NPS, CSAT and CES questions (filled in when it is stored,
  by the code that fills the feedback event); invitations and how many were answered. An
  index per table that starts ``(survey_id, time)`` and holds every column counted serves the
  period (one range scan a month by month) without reading the table. One row per group comes
  back, whatever the number of responses, and the domain turns them into figures
  (``aggregates.metrics``).
* CSV: UTF-8 with a byte-order mark (so Excel opens Chinese text), one row per response, one
  column per question (choices of a ``multi_choice`` joined with ``;``). A cell that a
  spreadsheet would take for a formula (starting with ``=``, ``+``, ``-``, ``@``, tab or CR)
  is prefixed with ``'``. It is streamed: responses are read 500 at a time, each batch in a
  short transaction of its own, so memory does not grow with the export and a slow download
  holds no transaction.
"""
from __future__ import annotations

import csv
import io
from datetime import date, datetime, time, timedelta
from datetime import timezone as dt_timezone
from decimal import Decimal
from typing import Any, Iterable, Iterator
from zoneinfo import ZoneInfo

from sqlalchemy import (Select, String, and_, case, column, func, literal_column, or_, select,
                        values)
from sqlalchemy.orm import Session

from services.survey import service
from services.survey.adapters.orm import (ClientEntry, InvitationRecord, ResponseRecord,
                                          SurveyRecord)
from services.survey.domain.aggregates import UNKNOWN_GROUP, GroupBy, Tally, metrics
from services.survey.domain.definition import SurveyDefinition
from services.survey.domain.scoring import FeedbackRules
from shared.clock import as_utc, isoformat_z
from shared.db import Database, UTCDateTime
from shared.errors import ValidationFailed

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
GROUP_KEY = "group_key"
BOM = "\ufeff"
#: Responses read (and CSV rows sent) at a time by the export.
CSV_BATCH = 500


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
    """``M`` overall and per group. The database counts (a ``Tally`` per group: responses by
    their answers to the first NPS, CSAT and CES questions, invitations by whether they were
    answered), so what Python holds does not grow with the responses; the figures are the
    domain's (``aggregates.metrics``)."""
    lower, upper = period(start, end, timezone)
    zone = ZoneInfo(timezone)
    tallies: dict[str, Tally] = {}
    for counted in (_response_tallies(session, survey.id, group_by, lower, upper, zone,
                                      rules.feedback),
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


def _periods(session: Session, column, survey_column, survey_id: str, group_by: str | None,
             lower: datetime | None, upper: datetime | None,
             zone: ZoneInfo) -> list[tuple[str, datetime | None, datetime | None]]:
    """The time ranges counted: each month there is something in (by month), else the whole
    period under the key ``""``."""
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


def _counted(session: Session, columns: list, table, survey_column, time_column,
             client_column, survey_id: str, group_by: str | None, lower, upper,
             zone: ZoneInfo) -> Iterator[tuple[str, Any]]:
    """``(group key, row of columns)`` for each group of the survey's rows in the period, from
    one statement. By month, the months are a ``VALUES`` list (a common table expression)
    joined to the rows by time range, each month one range scan of the table's results index;
    by kind or tier, the rows join the client directory; else a single row."""
    client_group = _client_group(group_by)
    periods = _periods(session, time_column, survey_column, survey_id, group_by, lower, upper,
                       zone)
    if not periods:
        return
    if group_by == GroupBy.MONTH:
        months = values(column("key", String), column("begins", UTCDateTime()),
                        column("ends", UTCDateTime()), name="months").data(periods).cte()
        key = months.c.key
        statement = select(key.label(GROUP_KEY), *columns).select_from(months).join(
            table, and_(survey_column == survey_id, time_column >= months.c.begins,
                        time_column < months.c.ends)).group_by(key)
    else:
        statement = _within(select(*columns).select_from(table)
                            .where(survey_column == survey_id), time_column, lower, upper)
        if client_group is not None:
            statement = statement.add_columns(client_group.label(GROUP_KEY)) \
                .outerjoin(ClientEntry, ClientEntry.id == client_column) \
                .group_by(literal_column(GROUP_KEY))
    for row in session.execute(statement).mappings():
        yield (row[GROUP_KEY] if group_by else ""), row


def _response_tallies(session: Session, survey_id: str, group_by: str | None, lower, upper,
                      zone: ZoneInfo, rules: FeedbackRules) -> dict[str, Tally]:
    """Responses counted by group from the columns that hold each response's answers to the
    survey's first NPS, CSAT and CES questions: one row per group comes back. An NPS answer
    is a promoter's from ``rules.promoter_min``, else a detractor's up to
    ``rules.detractor_max``, else a passive's (``scoring.nps_category``)."""
    response = ResponseRecord
    promoter = response.nps >= rules.promoter_min
    detractor = and_(response.nps < rules.promoter_min, response.nps <= rules.detractor_max)
    columns = [
        func.count().label("responses"),
        func.count(response.score).label("scored"),
        # in hundredths, so that SQLite (which keeps a score as a float) sums exactly
        func.sum(func.round(response.score * 100)).label("score_cents"),
        func.count(response.nps).label("nps_answered"),
        func.count(case((promoter, 1))).label("promoters"),
        func.count(case((detractor, 1))).label("detractors"),
        func.count(response.csat).label("csat_answered"),
        func.count(case((response.csat >= rules.csat_satisfied_min, 1))).label("satisfied"),
        func.count(response.ces).label("ces_answered"),
        func.sum(response.ces).label("ces_sum"),
    ]
    tallies: dict[str, Tally] = {}
    for group, row in _counted(session, columns, response, response.survey_id,
                               response.submitted_at, response.client_id, survey_id, group_by,
                               lower, upper, zone):
        if not row["responses"]:
            continue
        promoters, detractors = row["promoters"], row["detractors"]
        tallies[group] = Tally(
            responses=row["responses"], scored=row["scored"],
            score_sum=Decimal(int(row["score_cents"] or 0)) / 100,
            nps_promoters=promoters, nps_detractors=detractors,
            nps_passives=row["nps_answered"] - promoters - detractors,
            csat_answered=row["csat_answered"], csat_satisfied=row["satisfied"],
            ces_answered=row["ces_answered"], ces_sum=int(row["ces_sum"] or 0))
    return tallies


def _invitation_tallies(session: Session, survey_id: str, group_by: str | None, lower, upper,
                        zone: ZoneInfo) -> dict[str, Tally]:
    invitation = InvitationRecord
    columns = [func.count().label("invitations"),
               func.count(invitation.answered_at).label("answered")]
    tallies: dict[str, Tally] = {}
    for group, row in _counted(session, columns, invitation, invitation.survey_id,
                               invitation.created_at, invitation.client_id, survey_id, group_by,
                               lower, upper, zone):
        if row["invitations"]:
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


def csv_export(definition: SurveyDefinition, responses: Iterable[Any]) -> str:
    """The whole CSV file at once (``csv_stream`` sends it in pieces)."""
    return "".join(csv_chunks(definition, responses))


#: What a CSV row needs of a response (no ORM objects: nothing accumulates in a session).
CSV_COLUMNS = (ResponseRecord.id, ResponseRecord.invitation_id, ResponseRecord.client_id,
               ResponseRecord.submitted_at, ResponseRecord.language, ResponseRecord.score,
               ResponseRecord.scoring_version, ResponseRecord.answers)


def csv_stream(database: Database, definition: SurveyDefinition, survey_id: str,
               start: date | None, end: date | None, timezone: str, *,
               batch: int = CSV_BATCH) -> Iterator[bytes]:
    """The CSV export of the survey's responses in the period, as UTF-8 pieces for a streamed
    answer. ``from``/``to`` are checked now (``ValidationFailed``), before anything is sent."""
    lower, upper = period(start, end, timezone)
    rows = response_batches(database, survey_id, lower, upper, batch=batch)
    return (chunk.encode("utf-8") for chunk in csv_chunks(definition, rows,
                                                           rows_per_chunk=batch))


def response_batches(database: Database, survey_id: str, lower: datetime | None,
                     upper: datetime | None, *, batch: int = CSV_BATCH) -> Iterator[Any]:
    """The survey's responses in ``[lower, upper)``, oldest first (by ``submitted_at``, then
    ``id``), read ``batch`` rows at a time, each batch in a transaction of its own that starts
    after the last row of the one before (a range scan of the survey's index). Memory stays at
    one batch, and no transaction or connection is held while the client reads: a slow download
    never keeps SQLite's write lock (every transaction takes it) or a PostgreSQL snapshot."""
    submitted, key = ResponseRecord.submitted_at, ResponseRecord.id
    base = _within(select(*CSV_COLUMNS).where(ResponseRecord.survey_id == survey_id),
                   submitted, lower, upper).order_by(submitted, key).limit(batch)
    after = None
    while True:
        statement = base
        if after is not None:
            statement = statement.where(submitted >= after[0],
                                        or_(submitted > after[0], key > after[1]))
        with database.transaction() as session:
            rows = session.execute(statement).all()
        yield from rows
        if len(rows) < batch:
            return
        after = (rows[-1].submitted_at, rows[-1].id)


def csv_chunks(definition: SurveyDefinition, responses: Iterable[Any], *,
               rows_per_chunk: int = CSV_BATCH) -> Iterator[str]:
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
