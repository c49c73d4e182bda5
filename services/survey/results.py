"""Reading a survey's results and responses: queries around the domain's aggregates.

* ``from`` and ``to`` are calendar dates in ``CLIENTLOOP_TIMEZONE``, both inclusive. Responses
  count by the time they were submitted; invitations by the time they were created, and an
  invitation counts as answered whenever its answer came (so the rate of a past month keeps
  rising while late answers arrive, and never exceeds 100).
* Groups by ``kind`` and ``tier`` use the client's kind and tier as the service knows them
  now (from the registry's events), ``"unknown"`` when not known.
* Overall and by month, the database adds up tallies: ``response_tally`` and
  ``invitation_tally`` hold per survey and UTC day what results count (responses, scores and
  their sum, the first NPS and CSAT answers by value, the first CES answers and their sum;
  invitations and how many were answered), kept by triggers on the rows whatever writes them
  (see the migration that made them). The UTC days wholly inside a period come from the
  tallies (one range scan of each, by month grouped by the day's UTC month, which is the
  local month of every whole UTC day inside it); what is left at its edges, when a period or
  a month does not start or end at a UTC midnight (a time zone other than UTC), is counted
  from the rows of those hours. So the work grows with the days asked for, not with the
  responses.
* By kind or tier (the client's as known now, which the tallies cannot know), and when the NPS
  or CSAT bands reach beyond their scales, the rows themselves are counted: responses, scores,
  NPS promoters, passives and detractors, CSAT and CES answers from the columns in which each
  response keeps its answers to the survey's first NPS, CSAT and CES questions; invitations
  and how many were answered. An index per table that starts ``(survey_id, time)`` and holds
  every column counted serves a period without reading the table.
* Either way one row per group comes back, and the domain turns them into figures
  (``aggregates.metrics``); ``results(…, from_rows=True)`` counts the rows only (what the
  tallies must always equal).
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

from sqlalchemy import (Select, String, and_, case, func, literal, literal_column, or_, select,
                        text, union_all)
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from services.survey import service
from services.survey.adapters.orm import (CSAT_VALUES, NPS_VALUES, ClientEntry,
                                          InvitationRecord, ResponseRecord, SurveyRecord,
                                          invitation_tally, response_tally)
from services.survey.domain.aggregates import UNKNOWN_GROUP, GroupBy, Tally, metrics
from services.survey.domain.definition import SurveyDefinition
from services.survey.domain.scoring import FeedbackRules
from services.survey.domain.trend import nps_trend
from shared.clock import as_utc, isoformat_z
from shared.db import Database, UTCDateTime
from shared.errors import ValidationFailed

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
GROUP_KEY = "group_key"
#: PostgreSQL's error when ``lock_timeout`` ran out.
LOCK_NOT_AVAILABLE = "55P03"
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
            rules: service.SurveyRules = service.DEFAULT_RULES,
            from_rows: bool = False) -> dict[str, Any]:
    """``M`` overall and per group. The database counts (a ``Tally`` per group: responses by
    their answers to the first NPS, CSAT and CES questions, invitations by whether they were
    answered), so what Python holds does not grow with the responses; the figures are the
    domain's (``aggregates.metrics``). Overall and by month from the daily tallies (and the
    rows of a period's partial UTC days), else — or with ``from_rows`` — from the rows."""
    lower, upper = period(start, end, timezone)
    zone = ZoneInfo(timezone)
    feedback = rules.feedback
    tallied = not from_rows and group_by in (None, GroupBy.MONTH)
    count_responses = _tallied_responses if tallied and _bands_fit(feedback) \
        else _response_tallies
    count_invitations = _tallied_invitations if tallied else _invitation_tallies
    tallies: dict[str, Tally] = {}
    for counted in (count_responses(session, survey.id, group_by, lower, upper, zone, feedback),
                    count_invitations(session, survey.id, group_by, lower, upper, zone)):
        for key, tally in counted.items():
            tallies[key] = tallies.get(key, Tally()) + tally
    overall = sum(tallies.values(), Tally())
    groups = []
    if group_by:
        groups = [{"key": key, **metrics(tallies[key], feedback)}
                  for key in sorted(tallies)]
    answer = {"survey_id": survey.id, "from": start.isoformat() if start else None,
              "to": end.isoformat() if end else None, "group_by": group_by,
              "overall": metrics(overall, feedback), "groups": groups}
    if group_by == GroupBy.MONTH:
        answer["trend"] = nps_trend(((group["key"], group["nps"]) for group in groups),
                                    feedback.places)
    return answer


def _bands_fit(rules: FeedbackRules) -> bool:
    """Whether the NPS and CSAT bands split the tallies' values as they split any answer: an
    answer beyond a scale is tallied at its end, which is in the same band while the bands'
    edges lie within the scale."""
    return (NPS_VALUES[0] < rules.promoter_min <= NPS_VALUES[-1]
            and rules.detractor_max >= NPS_VALUES[0]
            and CSAT_VALUES[0] < rules.csat_satisfied_min <= CSAT_VALUES[-1])


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
        yield from _counted_in(session, columns, table, survey_column, time_column, survey_id,
                               periods)
        return
    statement = _within(select(*columns).select_from(table)
                        .where(survey_column == survey_id), time_column, lower, upper)
    if client_group is not None:
        statement = statement.add_columns(client_group.label(GROUP_KEY)) \
            .outerjoin(ClientEntry, ClientEntry.id == client_column) \
            .group_by(literal_column(GROUP_KEY))
    for row in session.execute(statement).mappings():
        yield (row[GROUP_KEY] if group_by else ""), row


def _counted_in(session: Session, columns: list, table, survey_column, time_column,
                survey_id: str, ranges: list[tuple[str, datetime, datetime]]
                ) -> Iterator[tuple[str, Any]]:
    """``(key, row of columns)`` for the survey's rows in each key's time ranges (bounded),
    from one statement: the ranges are a list joined to the rows, each range one range scan
    of the table's results index."""
    if not ranges:
        return
    listed = _listed("ranges", ranges, (("key", String()), ("begins", UTCDateTime()),
                                        ("ends", UTCDateTime())))
    statement = select(listed.c.key.label(GROUP_KEY), *columns).select_from(listed).join(
        table, and_(survey_column == survey_id, time_column >= listed.c.begins,
                    time_column < listed.c.ends)).group_by(listed.c.key)
    for row in session.execute(statement).mappings():
        yield row[GROUP_KEY], row


def _listed(name: str, rows: list[tuple], columns: tuple[tuple[str, Any], ...]):
    """The rows as a common table expression: ``SELECT :a, :b UNION ALL SELECT …`` rather than
    ``VALUES``, so that SQLAlchemy compiles the statement once for each number of rows and
    caches it (a ``VALUES`` list is compiled again at every call)."""
    selects = [select(*(literal(value, type_).label(column_name)
                        for value, (column_name, type_) in zip(row, columns)))
               for row in rows]
    return (selects[0] if len(selects) == 1 else union_all(*selects)).cte(name)


#: Days before and after any a tally can hold: a period unbounded on one side.
FIRST_DAY, LAST_DAY = date(1, 1, 1), date(9999, 12, 31)


def _split(periods: list[tuple[str, datetime | None, datetime | None]]
           ) -> tuple[list[tuple[str, date, date]], list[tuple[str, datetime, datetime]]]:
    """Each period ``[begins, ends)`` as the UTC days wholly inside it (``[first, end)`` days,
    read from a tally) and the hours left at its edges (read from the rows): none when it
    starts and ends at a UTC midnight, else the hours before the first such midnight and
    after the last one (or the whole period, when it has no UTC day of its own)."""
    days, edges = [], []
    for key, begins, ends in periods:
        begins, ends = as_utc(begins), as_utc(ends)
        if begins is not None and ends is not None and begins >= ends:
            continue
        first, last = FIRST_DAY, LAST_DAY
        head = tail = None
        if begins is not None:
            first = begins.date() if _is_midnight(begins) else begins.date() + timedelta(days=1)
            if not _is_midnight(begins):
                head = (key, begins, _midnight(first))
        if ends is not None:
            last = ends.date()
            if not _is_midnight(ends):
                tail = (key, _midnight(last), ends)
        if first > last:  # within one UTC day
            edges.append((key, begins, ends))
            continue
        if first < last:
            days.append((key, first, last))
        edges.extend(edge for edge in (head, tail) if edge is not None)
    return days, edges


def _is_midnight(moment: datetime) -> bool:
    return moment.time() == time(0)


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), dt_timezone.utc)


def _summed_days(session: Session, tally, sums: list, survey_id: str, by_month: bool,
                 days: list[tuple[str, date, date]]) -> Iterator[tuple[str, Any]]:
    """``(key, row of sums)`` of the survey's tally rows on each key's days, from one range
    scan of the tally's primary key: from the first day to the last, less the days between the
    keys' ranges (the UTC days a month boundary cuts, counted from the rows), grouped by the
    UTC month of the day when ``by_month`` (a whole UTC day inside a local month is in that
    month by the UTC calendar too, for any zone within ±24 hours; ``_tallied`` checks each)."""
    if not days:
        return
    days = sorted(days, key=lambda item: item[1])
    between = [day for (_key, _first, last), (_next, first, _end) in zip(days, days[1:])
               for day in _days(last, first)]
    if by_month:
        month = func.to_char(tally.c.day, literal_column("'YYYY-MM'")) \
            if session.get_bind().dialect.name == "postgresql" \
            else func.substr(tally.c.day, 1, 7)
    else:
        month = literal_column("''")
    statement = select(month.label(GROUP_KEY), *sums).where(
        tally.c.survey_id == survey_id, tally.c.day >= days[0][1], tally.c.day < days[-1][2])
    if between:
        statement = statement.where(tally.c.day.not_in(between))
    statement = statement.group_by(literal_column(GROUP_KEY))
    for row in session.execute(statement).mappings():
        yield row[GROUP_KEY], row


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=number) for number in range((last - first).days)]


def _in_its_month(key: str, first: date, last: date) -> bool:
    """Whether the days ``[first, last)`` are all in the month ``key`` by the UTC calendar."""
    return first.strftime("%Y-%m") == key == (last - timedelta(days=1)).strftime("%Y-%m")


def _tallied(session: Session, survey_id: str, group_by: str | None, lower, upper,
             zone: ZoneInfo, *, table, survey_column, time_column, tally, sums: list,
             columns: list, from_sums, from_columns) -> dict[str, Tally]:
    """Tallies by group (``""`` overall, else the month): the whole UTC days from ``tally``
    (``sums`` of its columns, made a ``Tally`` by ``from_sums``), the edges from the rows
    (``columns``, made a ``Tally`` by ``from_columns``)."""
    periods = _periods(session, time_column, survey_column, survey_id, group_by, lower, upper,
                       zone)
    days, edges = _split(periods)
    by_month = group_by == GroupBy.MONTH
    if by_month:  # never seen: a zone's month whose whole UTC days are in another UTC month
        odd = [item for item in days if not _in_its_month(*item)]
        days = [item for item in days if _in_its_month(*item)]
        edges += [(key, _midnight(first), _midnight(last)) for key, first, last in odd]
    tallies: dict[str, Tally] = {}
    for counted, make in ((_summed_days(session, tally, sums, survey_id, by_month, days),
                           from_sums),
                          (_counted_in(session, columns, table, survey_column, time_column,
                                       survey_id, edges), from_columns)):
        for key, row in counted:
            tallies[key] = tallies.get(key, Tally()) + make(row)
    return {key: tally for key, tally in tallies.items()
            if tally.responses or tally.invitations}


def _tallied_responses(session: Session, survey_id: str, group_by: str | None, lower, upper,
                       zone: ZoneInfo, rules: FeedbackRules) -> dict[str, Tally]:
    """``_response_tallies`` from the daily tally: NPS answers by value into the bands."""
    names = ["responses", "scored", "score_cents", *(f"nps_{value}" for value in NPS_VALUES),
             *(f"csat_{value}" for value in CSAT_VALUES), "ces_answered", "ces_sum"]
    sums = [func.coalesce(func.sum(response_tally.c[name]), 0).label(name) for name in names]

    def from_sums(row) -> Tally:
        nps = {value: int(row[f"nps_{value}"]) for value in NPS_VALUES}
        promoters = sum(n for value, n in nps.items() if value >= rules.promoter_min)
        detractors = sum(n for value, n in nps.items()
                         if value < rules.promoter_min and value <= rules.detractor_max)
        return Tally(
            responses=int(row["responses"]), scored=int(row["scored"]),
            score_sum=Decimal(int(row["score_cents"])) / 100,
            nps_promoters=promoters, nps_detractors=detractors,
            nps_passives=sum(nps.values()) - promoters - detractors,
            csat_answered=sum(int(row[f"csat_{value}"]) for value in CSAT_VALUES),
            csat_satisfied=sum(int(row[f"csat_{value}"]) for value in CSAT_VALUES
                               if value >= rules.csat_satisfied_min),
            ces_answered=int(row["ces_answered"]), ces_sum=int(row["ces_sum"]))

    return _tallied(session, survey_id, group_by, lower, upper, zone, table=ResponseRecord,
                    survey_column=ResponseRecord.survey_id,
                    time_column=ResponseRecord.submitted_at, tally=response_tally, sums=sums,
                    columns=_response_columns(rules), from_sums=from_sums,
                    from_columns=_response_tally)


def _tallied_invitations(session: Session, survey_id: str, group_by: str | None, lower, upper,
                         zone: ZoneInfo) -> dict[str, Tally]:
    """``_invitation_tallies`` from the daily tally."""
    sums = [func.coalesce(func.sum(invitation_tally.c[name]), 0).label(name)
            for name in ("invitations", "answered")]
    return _tallied(session, survey_id, group_by, lower, upper, zone, table=InvitationRecord,
                    survey_column=InvitationRecord.survey_id,
                    time_column=InvitationRecord.created_at, tally=invitation_tally, sums=sums,
                    columns=_invitation_columns(), from_sums=_invitation_tally,
                    from_columns=_invitation_tally)


#: How long the fold waits for a tally row a writer holds before leaving the tally for the next
#: pass: well under PostgreSQL's ``deadlock_timeout`` (1 s), so in a lock cycle with a writer
#: the fold is always the one that gives way.
FOLD_LOCK_TIMEOUT_MS = 200


def fold_tally_slots(database: Database, before: date) -> int:
    """Add the slots of each tally day before ``before`` into slot 0 (PostgreSQL; SQLite
    writes slot 0 only, and nothing is done there): the slots spread the writers of the live
    days, and once a day is past they would only be more rows for results to read. One
    statement per tally, atomic, in a transaction of its own; a writer of such a day meanwhile
    waits for it and then adds to the folded row or to its slot again (folded at the next
    pass). A tally whose rows a writer holds for longer than ``FOLD_LOCK_TIMEOUT_MS`` is left
    as it is until the next pass. How many slot rows were folded."""
    if database.dialect != "postgresql":
        return 0
    folded = 0
    with database.transaction() as session:
        session.execute(text(f"SET LOCAL lock_timeout = '{FOLD_LOCK_TIMEOUT_MS}ms'"))
        for tally in (response_tally, invitation_tally):
            names = [column.name for column in tally.c if not column.primary_key]
            statement = text(
                f"WITH moved AS (DELETE FROM {tally.name} WHERE slot <> 0 AND day < :before "
                f"RETURNING *), added AS (INSERT INTO {tally.name} (survey_id, day, slot, "
                f"{', '.join(names)}) SELECT survey_id, day, 0, "
                f"{', '.join(f'sum({name})' for name in names)} FROM moved "
                f"GROUP BY survey_id, day ORDER BY survey_id, day "
                f"ON CONFLICT (survey_id, day, slot) DO UPDATE SET "
                + ", ".join(f"{name} = {tally.name}.{name} + excluded.{name}" for name in names)
                + " RETURNING 1) SELECT count(*) FROM moved")
            try:
                with session.begin_nested():
                    folded += session.execute(statement, {"before": before}).scalar_one()
            except OperationalError as error:
                if getattr(error.orig, "sqlstate", None) != LOCK_NOT_AVAILABLE:
                    raise
    return folded


def _response_columns(rules: FeedbackRules) -> list:
    """What is counted of responses: an NPS answer is a promoter's from ``rules.promoter_min``,
    else a detractor's up to ``rules.detractor_max``, else a passive's
    (``scoring.nps_category``)."""
    response = ResponseRecord
    promoter = response.nps >= rules.promoter_min
    detractor = and_(response.nps < rules.promoter_min, response.nps <= rules.detractor_max)
    return [
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


def _response_tally(row) -> Tally:
    promoters, detractors = row["promoters"], row["detractors"]
    return Tally(
        responses=row["responses"], scored=row["scored"],
        score_sum=Decimal(int(row["score_cents"] or 0)) / 100,
        nps_promoters=promoters, nps_detractors=detractors,
        nps_passives=row["nps_answered"] - promoters - detractors,
        csat_answered=row["csat_answered"], csat_satisfied=row["satisfied"],
        ces_answered=row["ces_answered"], ces_sum=int(row["ces_sum"] or 0))


def _response_tallies(session: Session, survey_id: str, group_by: str | None, lower, upper,
                      zone: ZoneInfo, rules: FeedbackRules) -> dict[str, Tally]:
    """Responses counted by group from the columns that hold each response's answers to the
    survey's first NPS, CSAT and CES questions: one row per group comes back."""
    tallies: dict[str, Tally] = {}
    for group, row in _counted(session, _response_columns(rules), ResponseRecord,
                               ResponseRecord.survey_id, ResponseRecord.submitted_at,
                               ResponseRecord.client_id, survey_id, group_by, lower, upper,
                               zone):
        if row["responses"]:
            tallies[group] = _response_tally(row)
    return tallies


def _invitation_columns() -> list:
    return [func.count().label("invitations"),
            func.count(InvitationRecord.answered_at).label("answered")]


def _invitation_tally(row) -> Tally:
    return Tally(invitations=int(row["invitations"]), invitations_answered=int(row["answered"]))


def _invitation_tallies(session: Session, survey_id: str, group_by: str | None, lower, upper,
                        zone: ZoneInfo) -> dict[str, Tally]:
    invitation = InvitationRecord
    tallies: dict[str, Tally] = {}
    for group, row in _counted(session, _invitation_columns(), invitation, invitation.survey_id,
                               invitation.created_at, invitation.client_id, survey_id, group_by,
                               lower, upper, zone):
        if row["invitations"]:
            tallies[group] = _invitation_tally(row)
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
