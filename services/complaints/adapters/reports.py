"""The complaint analysis (投诉分析) in SQL, on SQLite and PostgreSQL alike.

For a range of calendar dates ``[from, to]`` in the installation's time zone, i.e. the
instants ``[start, end)``:

* the **cohort** is the complaints *opened* in the range; ``total``, the counts ``by_category``,
  ``by_severity``, ``by_channel`` and ``by_root_cause`` (root causes grouped by
  ``domain.improvement.normalise_root_cause``, each shown in its most frequent spelling), the
  times, the breach rate and the reopen rate describe the cohort as it stands at the time of
  the report;
* ``time_to_acknowledge_s`` / ``time_to_resolve_s``: mean and median over the cohort's
  complaints that were acknowledged / are resolved or closed (the latest resolution), from the
  whole seconds stored when it happened; the mean is exact (SUM and COUNT in SQL, the division
  in decimal), the median is the middle value (or the mean of the two middle values);
* ``sla_breach_rate``: % of the cohort that missed at least one deadline so far (response or
  resolution, by the rules of ``domain.sla``);
* ``reopen_rate``: % of the cohort's complaints ever resolved that were reopened at least once;
* ``backlog_by_age``: every complaint (whenever opened) that was open at ``as_of`` — the end of
  the range (exclusive: just before the next day begins), or now if that is earlier — by its
  age at ``as_of``. The status at ``as_of`` is read from the timeline (what its first entry
  after ``as_of`` changed from; the status now if there is none), so a past range shows the
  backlog as it was then.

The cohort is read in as few passes as each database allows:

* **PostgreSQL**: one statement gives the total, the breaches and reopenings (``FILTER``
  aggregates), both sums and counts and both medians (``percentile_cont(0.5)``: the seconds are
  whole numbers far below 2^52, so the mean of the two middle values is exact in double
  precision); a second one gives the four counts in one scan (``GROUPING SETS``), and the
  weekly volume as one more grouping set when the caller asks for it (the console). Reading
  the period once for both would not be cheaper: ``percentile_cont`` would then be computed
  for every group of every set.
* **SQLite** (no ``percentile_cont``, no ``GROUPING SETS``): the same ``FILTER`` statement
  without the medians, then each median as the one or two middle values
  (``ORDER BY … LIMIT 1 or 2 OFFSET (n - 1) / 2``, ``n`` known from the first statement), and
  the counts of every (category, severity, channel, root cause) combination in one
  ``GROUP BY``, added up per column here. Ties between root causes are ordered by code point,
  which is SQLite's own (``BINARY``) order.

The backlog is one more statement either way: it reads the complaints open now and those
resolved after ``as_of`` (two index scans), not the period, and the timeline entries after
``as_of`` (an index scan on ``at``) in one grouped join: no subquery per complaint.

Either way the figures are the same, and the same as the arithmetic of ``domain.reports``
(the tests compare both databases with a plain-Python computation over the same complaints).
Rates and durations use ``domain.reports`` for rounding (half-up, 2 decimals; ``None`` when
there is nothing to measure).
"""
from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any, Iterable, Sequence

from sqlalchemy import (and_, bindparam, case, func, literal, literal_column, not_, or_, select,
                        tuple_)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from services.complaints.adapters.repository import COMPLAINTS, TIMELINE
from services.complaints.domain.improvement import grouped_root_causes
from services.complaints.domain.reports import BACKLOG_BUCKETS, rate, report_number
from services.complaints.domain.vocabulary import CATEGORIES, CHANNELS, SEVERITIES
from services.complaints.domain.workflow import OPEN_STATUSES, Status

c = COMPLAINTS.c
_RUNNING = [str(s) for s in (Status.NEW, Status.ACKNOWLEDGED, Status.IN_PROGRESS,
                             Status.ESCALATED)]
_COUNTED = (("by_category", c.category, CATEGORIES), ("by_severity", c.severity, SEVERITIES),
            ("by_channel", c.channel, CHANNELS), ("by_root_cause", c.root_cause, ()))
"""The report's counts: its key, the column counted, the values always listed (in order)."""
_DURATIONS = (("time_to_acknowledge_s", c.time_to_acknowledge_s),
              ("time_to_resolve_s", c.time_to_resolve_s))


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


def _on_postgresql(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _decimal(value: Any) -> Decimal:
    return Decimal(str(value or 0))


# -- the cohort's totals, rates and times ------------------------------------------------------

def _summary(session: Session, cohort, now: datetime, *, medians: bool) -> dict[str, Any]:
    """One pass over the cohort: counts, sums and (``medians``: PostgreSQL) the medians."""
    columns = [func.count().label("total"),
               func.count().filter(breached_clause(now)).label("breached"),
               func.count().filter(c.reopen_count > 0).label("reopened"),
               func.count().filter(or_(c.reopen_count > 0, c.resolved_at.is_not(None)))
               .label("ever_resolved")]
    for name, column in _DURATIONS:
        columns += [func.sum(column).label(f"{name}_sum"), func.count(column).label(f"{name}_n")]
        if medians:
            columns.append(func.percentile_cont(literal_column("0.5")).within_group(column)
                           .label(f"{name}_median"))
    return dict(session.execute(select(*columns).where(cohort)).mappings().one())


def _middle(session: Session, column, cohort, size: int) -> Decimal:
    """The median of ``size`` non-null values: the middle one, or the mean of the middle two,
    read as the 1 or 2 values after the first ``(size - 1) // 2`` in order."""
    values = session.execute(select(column).where(cohort, column.is_not(None))
                             .order_by(column).limit(2 - size % 2)
                             .offset((size - 1) // 2)).scalars().all()
    return sum(map(_decimal, values), Decimal(0)) / len(values)


def _durations(session: Session, summary: dict[str, Any], cohort,
               ) -> dict[str, dict[str, float | None]]:
    durations = {}
    for name, column in _DURATIONS:
        size = int(summary[f"{name}_n"])
        if not size:
            durations[name] = {"mean": None, "median": None}
            continue
        if f"{name}_median" in summary:
            median = _decimal(summary[f"{name}_median"])
        else:
            median = _middle(session, column, cohort, size)
        durations[name] = {"mean": report_number(_decimal(summary[f"{name}_sum"]) / size),
                           "median": report_number(median)}
    return durations


# -- the counts --------------------------------------------------------------------------------

def _fill(rows: Iterable[tuple[str, int]], known: Sequence[str]) -> dict[str, int]:
    """Every ``known`` value first (0 when absent), then the others in the order of ``rows``."""
    counts = {value: 0 for value in known}
    for value, count in rows:
        counts[value] = int(count)
    return counts


def _counts_grouping_sets(session: Session, cohort, week=None,
                          ) -> tuple[dict[str, dict[str, int]], dict[int, int]]:
    """PostgreSQL: the four counts — and with ``week`` (SQL: the index of a complaint's week)
    the weekly volume — in one scan, one grouping set per column, each set's rows most
    frequent first, ties in the column's order. ``GROUPING(…)`` tells the sets apart: the bit
    of each column not grouped by is set."""
    columns = [column for _key, column, _known in _COUNTED]
    if week is not None:
        columns.append(week)  # one expression (one bound parameter) in every clause
    last = len(columns) - 1
    which = func.grouping(*columns).label("grouping_set")
    statement = (select(which, func.count().label("count"), *columns).where(cohort)
                 .group_by(func.grouping_sets(*[tuple_(column) for column in columns]))
                 .order_by(which, func.count().desc(), *columns))
    masks = {((1 << len(columns)) - 1) ^ (1 << (last - index)): index
             for index in range(len(columns))}
    rows: dict[int, list[tuple[Any, int]]] = {index: [] for index in range(len(columns))}
    for row in session.execute(statement):
        index = masks[row.grouping_set]
        value = row[2 + index]
        if value is not None:
            rows[index].append((value, int(row.count)))
    counts = {key: _fill(rows[index], known)
              for index, (key, _column, known) in enumerate(_COUNTED)}
    return counts, dict(rows[len(_COUNTED)]) if week is not None else {}


def _counts_combined(session: Session, cohort) -> dict[str, dict[str, int]]:
    """SQLite: one ``GROUP BY`` of every combination of the four columns, added up per column
    here; most frequent first, ties by code point (SQLite's ``BINARY`` order)."""
    columns = [column for _key, column, _known in _COUNTED]
    totals: list[dict[str, int]] = [{} for _ in columns]
    statement = select(func.count(), *columns).where(cohort).group_by(*columns)
    for count, *values in session.execute(statement):
        for index, value in enumerate(values):
            if value is not None:
                totals[index][value] = totals[index].get(value, 0) + int(count)
    return {key: _fill(sorted(totals[index].items(), key=lambda item: (-item[1], item[0])),
                       known)
            for index, (key, _column, known) in enumerate(_COUNTED)}


# -- the backlog -------------------------------------------------------------------------------

def _backlog(session: Session, as_of: datetime, *, inclusive: bool) -> dict[str, int]:
    """Complaints open at ``as_of`` by age. The range's end is exclusive (what happened at
    that instant belongs to the next day); ``now`` is inclusive.

    Only a complaint open now, or whose (latest) resolution came after ``as_of``, can have been
    open at ``as_of``. Its status then is the status its first timeline entry after ``as_of``
    changed from (ids increase with time within a complaint), or its status now when nothing
    happened to it since: the timeline is read only from ``as_of`` on (``at`` is indexed), in
    one grouped pass joined to the complaints, never once per complaint."""
    def before(column):
        return column <= as_of if inclusive else column < as_of

    open_statuses = [str(s) for s in OPEN_STATUSES]
    maybe_open_then = or_(c.status.in_(open_statuses), not_(before(c.resolved_at)))
    first_after = (select(TIMELINE.c.complaint_id, func.min(TIMELINE.c.id).label("entry_id"))
                   .where(not_(before(TIMELINE.c.at)))
                   .group_by(TIMELINE.c.complaint_id)
                   .subquery("first_after"))
    entry = TIMELINE.alias("entry_after")
    status_then = func.coalesce(entry.c.from_status, c.status)
    bucket = case(
        *[(c.opened_at > as_of - upper, name) for name, upper in BACKLOG_BUCKETS if upper],
        else_=BACKLOG_BUCKETS[-1][0])
    statement = (select(bucket.label("bucket"), func.count())
                 .select_from(COMPLAINTS
                              .outerjoin(first_after, first_after.c.complaint_id == c.id)
                              .outerjoin(entry, entry.c.id == first_after.c.entry_id))
                 .where(before(c.opened_at), maybe_open_then, status_then.in_(open_statuses))
                 .group_by(bucket))
    counts = {name: 0 for name, _ in BACKLOG_BUCKETS}
    for name, count in session.execute(statement).all():
        counts[name] = int(count)
    return counts


def complaints_report(session: Session, *, first_day: date, last_day: date, start: datetime,
                      end: datetime, now: datetime, zone=None) -> dict[str, Any]:
    """The analysis of the complaints opened in ``[start, end)`` (see the module doc); with
    ``zone`` also ``weekly``, the volume per calendar week of :func:`weekly_volume` (counted
    in the same scan as the counts on PostgreSQL)."""
    cohort = and_(c.opened_at >= start, c.opened_at < end)
    as_of = min(now, end)
    postgresql = _on_postgresql(session)
    summary = _summary(session, cohort, now, medians=postgresql)
    total = int(summary["total"])
    weekly = None
    if postgresql:
        weeks = _weeks(first_day, last_day, zone) if zone is not None else None
        counts, per_week = _counts_grouping_sets(
            session, cohort, None if weeks is None else _week_index(weeks[1]))
        if weeks is not None:
            weekly = [(monday, per_week.get(index, 0)) for index, monday in enumerate(weeks[0])]
    else:
        counts = _counts_combined(session, cohort)
        if zone is not None:
            weekly = weekly_volume(session, first_day=first_day, last_day=last_day, zone=zone)
    durations = _durations(session, summary, cohort)
    # root causes grouped as every report groups them (``normalise_root_cause``)
    counts["by_root_cause"] = grouped_root_causes(counts["by_root_cause"].items())
    report = {
        "from": first_day.isoformat(),
        "to": last_day.isoformat(),
        "as_of": as_of,
        "total": total,
        "by_category": counts["by_category"],
        "by_severity": counts["by_severity"],
        "by_root_cause": counts["by_root_cause"],
        "by_channel": counts["by_channel"],
        "time_to_acknowledge_s": durations["time_to_acknowledge_s"],
        "time_to_resolve_s": durations["time_to_resolve_s"],
        "sla_breach_rate": rate(int(summary["breached"]), total),
        "reopen_rate": rate(int(summary["reopened"]), int(summary["ever_resolved"])),
        "backlog_by_age": _backlog(session, as_of, inclusive=now < end),
    }
    if weekly is not None:
        report["weekly"] = weekly
    return report


# -- the weekly volume -------------------------------------------------------------------------

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


def _weeks(first_day: date, last_day: date, zone) -> tuple[list[date], list[datetime]]:
    """The Mondays of the weeks overlapping the range and the end of each week (the next
    Monday 00:00 in ``zone``, as Python knows the zone), as UTC instants."""
    weeks = week_starts(first_day, last_day)
    return weeks, [day_bounds(monday, monday + timedelta(days=6), zone)[1] for monday in weeks]


def _week_index(week_ends: list[datetime]):
    """SQL for PostgreSQL: the index of the week ``opened_at`` falls in, i.e. how many week
    ends are at or before it (``width_bucket``, a binary search over the week ends)."""
    return func.width_bucket(c.opened_at, literal(week_ends[:-1], ARRAY(c.opened_at.type)))


@lru_cache(maxsize=32)
def _week_of(weeks: int):
    """SQL for SQLite: the index (0…``weeks`` - 1) of the week ``opened_at`` falls in, the
    end of week ``i`` being the parameter ``week_end_<i>``; a balanced tree of comparisons, so
    each row is compared about log2(weeks) times, not once per week. Built once per number of
    weeks (building it takes longer than running it on a small database)."""
    ends = [bindparam(f"week_end_{index}", type_=c.opened_at.type) for index in range(weeks)]

    def tree(first: int, last: int):
        if first == last:
            return literal_column(str(first))
        middle = (first + last) // 2
        return case((c.opened_at < ends[middle], tree(first, middle)),
                    else_=tree(middle + 1, last))
    return tree(0, weeks - 1)


def weekly_volume(session: Session, *, first_day: date, last_day: date,
                  zone) -> list[tuple[date, int]]:
    """Complaints opened per calendar week (Monday to Sunday in ``zone``) within
    ``[first_day, last_day]``: each week that overlaps the range, 0 when none, counted in
    one SQL statement: ``width_bucket`` on PostgreSQL, a balanced tree of comparisons on
    SQLite (a constant is no grouping key there, hence the single week apart)."""
    start, end = day_bounds(first_day, last_day, zone)
    weeks, week_ends = _weeks(first_day, last_day, zone)
    in_range = and_(c.opened_at >= start, c.opened_at < end)
    if _on_postgresql(session):
        week = _week_index(week_ends)
        rows = session.execute(select(week, func.count()).where(in_range).group_by(week)).all()
    elif len(weeks) == 1:
        rows = [(0, session.execute(select(func.count()).where(in_range)).scalar_one())]
    else:
        week = _week_of(len(weeks))
        rows = session.execute(select(week, func.count()).where(in_range).group_by(week),
                               {f"week_end_{index}": end for index, end in enumerate(week_ends)}
                               ).all()
    counts = {int(index): int(count) for index, count in rows}
    return [(monday, counts.get(index, 0)) for index, monday in enumerate(weeks)]
