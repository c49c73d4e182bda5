"""The complaint analysis (投诉分析), computed in SQL that runs on SQLite and PostgreSQL alike.

For a range of calendar dates ``[from, to]`` in the installation's time zone, i.e. the
instants ``[start, end)``:

* the **cohort** is the complaints *opened* in the range; ``total``, the counts ``by_category``,
  ``by_severity``, ``by_channel`` and ``by_root_cause``, the times, the breach rate and the
  reopen rate describe the cohort as it stands at the time of the report;
* ``time_to_acknowledge_s`` / ``time_to_resolve_s``: mean and median over the cohort's
  complaints that were acknowledged / are resolved or closed (the latest resolution), from the
  whole seconds stored when it happened; aggregates are exact (SUM and COUNT in SQL, the
  division in decimal), the median is the middle value (or the mean of the two middle values)
  picked with window functions;
* ``sla_breach_rate``: % of the cohort that missed at least one deadline so far (response or
  resolution, by the rules of ``domain.sla``);
* ``reopen_rate``: % of the cohort's complaints ever resolved that were reopened at least once;
* ``backlog_by_age``: every complaint (whenever opened) that was open at ``as_of`` — the end of
  the range (exclusive: just before the next day begins), or now if that is earlier — by its
  age at ``as_of``. The status at ``as_of`` is read from the timeline (its last entry before
  ``as_of``), so a past range shows the backlog as it was then.

Rates and durations use ``domain.reports`` for rounding (half-up, 2 decimals; ``None`` when
there is nothing to measure).
"""
from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, case, func, literal_column, not_, or_, select
from sqlalchemy.orm import Session

from services.complaints.adapters.repository import COMPLAINTS, TIMELINE
from services.complaints.domain.reports import BACKLOG_BUCKETS, rate, report_number
from services.complaints.domain.vocabulary import CATEGORIES, CHANNELS, SEVERITIES
from services.complaints.domain.workflow import OPEN_STATUSES, Status

c = COMPLAINTS.c
_RUNNING = [str(s) for s in (Status.NEW, Status.ACKNOWLEDGED, Status.IN_PROGRESS,
                             Status.ESCALATED)]


def breached_clause(now: datetime):
    """SQL: the complaint missed its response or its resolution deadline (as of ``now``)."""
    response = or_(c.response_breach_published.is_(True),
                   c.acknowledged_at > c.respond_by,
                   and_(c.acknowledged_at.is_(None), c.respond_by < now))
    resolution = or_(c.resolution_breach_published.is_(True),
                     and_(c.status.in_(_RUNNING), c.resolve_by < now),
                     and_(c.status == Status.AWAITING_CLIENT, c.waiting_since > c.resolve_by),
                     and_(c.resolved_at.is_not(None), c.resolved_at > c.resolve_by))
    return or_(response, resolution)


def _counts(session: Session, column, cohort, known=()) -> dict[str, int]:
    """Counts per value: every ``known`` value first (0 when absent), then the others by
    count, most frequent first."""
    rows = session.execute(select(column, func.count()).where(cohort, column.is_not(None))
                           .group_by(column).order_by(func.count().desc(), column)).all()
    counts = {value: 0 for value in known}
    for value, count in rows:
        counts[value] = int(count)
    return counts


def _decimal(value: Any) -> Decimal:
    return Decimal(str(value or 0))


def _durations(session: Session, column, cohort) -> dict[str, float | None]:
    total, count = session.execute(select(func.sum(column), func.count(column))
                                   .where(cohort, column.is_not(None))).one()
    if not count:
        return {"mean": None, "median": None}
    ranked = (select(column.label("seconds"),
                     func.row_number().over(order_by=column).label("position"),
                     func.count().over().label("size"))
              .where(cohort, column.is_not(None)).subquery())
    # The middle position(s): 2·position ∈ [size, size + 2] picks one of an odd count and two
    # of an even count, with no division in SQL.
    middle_sum, middle_count = session.execute(
        select(func.sum(ranked.c.seconds), func.count())
        .where(2 * ranked.c.position >= ranked.c.size, 2 * ranked.c.position <= ranked.c.size + 2)
    ).one()
    return {"mean": report_number(_decimal(total) / int(count)),
            "median": report_number(_decimal(middle_sum) / int(middle_count))}


def _backlog(session: Session, as_of: datetime, *, inclusive: bool) -> dict[str, int]:
    """Complaints open at ``as_of`` by age. The range's end is exclusive (what happened at
    that instant belongs to the next day); ``now`` is inclusive.

    Only a complaint open now, or whose (latest) resolution came after ``as_of``, can have been
    open at ``as_of``; the timeline is read for those alone (its last entry before ``as_of``,
    one index probe each), not for every complaint ever opened."""
    def before(column):
        return column <= as_of if inclusive else column < as_of

    open_statuses = [str(s) for s in OPEN_STATUSES]
    later = TIMELINE.alias("later")
    status_then = (select(later.c.to_status)
                   .where(later.c.complaint_id == c.id, before(later.c.at))
                   .order_by(later.c.id.desc()).limit(1)
                   .scalar_subquery())
    maybe_open_then = or_(c.status.in_(open_statuses), not_(before(c.resolved_at)))
    bucket = case(
        *[(c.opened_at > as_of - upper, name) for name, upper in BACKLOG_BUCKETS if upper],
        else_=BACKLOG_BUCKETS[-1][0])
    statement = (select(bucket.label("bucket"), func.count())
                 .where(before(c.opened_at), maybe_open_then, status_then.in_(open_statuses))
                 .group_by(bucket))
    counts = {name: 0 for name, _ in BACKLOG_BUCKETS}
    for name, count in session.execute(statement).all():
        counts[name] = int(count)
    return counts


def complaints_report(session: Session, *, first_day: date, last_day: date, start: datetime,
                      end: datetime, now: datetime) -> dict[str, Any]:
    """The analysis of the complaints opened in ``[start, end)`` (see the module doc)."""
    cohort = and_(c.opened_at >= start, c.opened_at < end)
    as_of = min(now, end)
    total = session.execute(select(func.count()).where(cohort)).scalar_one()
    breached = session.execute(select(func.count()).where(cohort, breached_clause(now))
                               ).scalar_one()
    reopened, ever_resolved = session.execute(select(
        func.count().filter(c.reopen_count > 0),
        func.count().filter(or_(c.reopen_count > 0, c.resolved_at.is_not(None))),
    ).where(cohort)).one()
    return {
        "from": first_day.isoformat(),
        "to": last_day.isoformat(),
        "as_of": as_of,
        "total": int(total),
        "by_category": _counts(session, c.category, cohort, CATEGORIES),
        "by_severity": _counts(session, c.severity, cohort, SEVERITIES),
        "by_root_cause": _counts(session, c.root_cause, cohort),
        "by_channel": _counts(session, c.channel, cohort, CHANNELS),
        "time_to_acknowledge_s": _durations(session, c.time_to_acknowledge_s, cohort),
        "time_to_resolve_s": _durations(session, c.time_to_resolve_s, cohort),
        "sla_breach_rate": rate(int(breached), int(total)),
        "reopen_rate": rate(int(reopened), int(ever_resolved)),
        "backlog_by_age": _backlog(session, as_of, inclusive=now < end),
    }


def day_bounds(first_day: date, last_day: date, zone) -> tuple[datetime, datetime]:
    """``[first_day 00:00, last_day + 1 00:00)`` in ``zone``, as UTC instants."""
    start = datetime.combine(first_day, time.min, tzinfo=zone).astimezone(UTC)
    end = datetime.combine(last_day + timedelta(days=1), time.min, tzinfo=zone).astimezone(UTC)
    return start, end


def week_starts(first_day: date, last_day: date) -> list[date]:
    """The Mondays of the weeks that overlap ``[first_day, last_day]``, oldest first."""
    monday = first_day - timedelta(days=first_day.weekday())
    weeks = []
    while monday <= last_day:
        weeks.append(monday)
        monday += timedelta(days=7)
    return weeks


def _week_of(bounds: list[datetime], first: int, last: int):
    """SQL: the index (``first``…``last``) of the week ``opened_at`` falls in, ``bounds[i]``
    being the end of week ``i``; a balanced tree of comparisons, so each row is compared
    about log2(weeks) times, not once per week."""
    if first == last:
        return literal_column(str(first))
    middle = (first + last) // 2
    return case((c.opened_at < bounds[middle], _week_of(bounds, first, middle)),
                else_=_week_of(bounds, middle + 1, last))


def weekly_volume(session: Session, *, first_day: date, last_day: date,
                  zone) -> list[tuple[date, int]]:
    """Complaints opened per calendar week (Monday to Sunday in ``zone``) within
    ``[first_day, last_day]``: each week that overlaps the range, 0 when none, counted in
    one SQL statement."""
    start, end = day_bounds(first_day, last_day, zone)
    weeks = week_starts(first_day, last_day)
    week_ends = [day_bounds(monday, monday + timedelta(days=6), zone)[1] for monday in weeks]
    in_range = and_(c.opened_at >= start, c.opened_at < end)
    if len(weeks) == 1:  # nothing to tell apart (and a constant cannot be grouped by)
        rows = [(0, session.execute(select(func.count()).where(in_range)).scalar_one())]
    else:
        week = _week_of(week_ends, 0, len(weeks) - 1)
        rows = session.execute(select(week, func.count()).where(in_range).group_by(week)).all()
    counts = {int(index): int(count) for index, count in rows}
    return [(monday, counts.get(index, 0)) for index, monday in enumerate(weeks)]
