"""The weekly complaint-volume forecast (``GET /api/v1/forecasts/complaints``).

Weeks start on Monday in ``CLIENTLOOP_TIMEZONE``. The history is made of complete weeks: the
current week is the first forecast week, so a half-finished week never looks like a drop. The
model is fitted on the weeks from the first complaint's week (at most ``FIT_WEEKS`` back); the
answer shows the last ``SHOWN_WEEKS``. Answers are cached per process, keyed by the week and the
data version (number of complaints and the latest change), so a repeated request costs two
small queries.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.complaints.adapters.orm import ComplaintRecord
from services.complaints.adapters.reports import day_bounds
from shared.clock import as_utc
from shared.forecasting import (INSUFFICIENT_HISTORY, WEEKLY, ForecastCache, add_periods,
                                period_counts, series_payload, week_start)

SHOWN_WEEKS = 52
FIT_WEEKS = 156
BY = ("none", "category", "severity")

def _data_version(session: Session) -> tuple:
    count, changed = session.execute(select(func.count(ComplaintRecord.id),
                                            func.max(ComplaintRecord.updated_at))).one()
    return count, changed.isoformat() if changed else None


def complaints_forecast(session: Session, *, by: str, horizon: int, now: datetime, zone,
                        cache: ForecastCache) -> dict:
    """The answer of ``GET /forecasts/complaints``, from ``cache`` (one per service context)
    when this week's data version has been computed already."""
    this_week = week_start(now.astimezone(zone).date())
    key = (by, horizon, this_week, str(zone), _data_version(session))
    return cache.get(key, lambda: _compute(session, by=by, horizon=horizon,
                                            this_week=this_week, zone=zone))


def _compute(session: Session, *, by: str, horizon: int, this_week, zone) -> dict:
    last_week = this_week - timedelta(weeks=1)
    first_week = add_periods(last_week, -(FIT_WEEKS - 1), "week")
    start, _ = day_bounds(first_week, first_week, zone)
    end, _ = day_bounds(this_week, this_week, zone)
    column = {"none": None, "category": ComplaintRecord.category,
              "severity": ComplaintRecord.severity}[by]
    columns = [ComplaintRecord.opened_at] + ([column] if column is not None else [])
    rows = session.execute(select(*columns).where(ComplaintRecord.opened_at >= start,
                                                  ComplaintRecord.opened_at < end)).all()
    days = [as_utc(row[0]).astimezone(zone).date() for row in rows]
    keys = [row[1] if column is not None else None for row in rows]
    counts = period_counts(days, keys, first=first_week, last=last_week, unit="week")
    # fit from the first week with a complaint: weeks before the service was used are not zeros
    fitted_from = min((week_start(d) for d in days), default=this_week)
    offset = max(0, (fitted_from - first_week).days // 7)
    if by == "none":
        counts.setdefault(None, [0] * FIT_WEEKS)
    series = [series_payload(k, counts=counts[k], fitted_from=offset, shown=SHOWN_WEEKS,
                             last_start=last_week, horizon=horizon, unit="week",
                             settings=WEEKLY)
              for k in sorted(counts, key=lambda k: (k is not None, k or ""))]
    methods = [item.pop("method") for item in series]
    method = methods[0] if methods else INSUFFICIENT_HISTORY
    return {"by": by, "method": method, "series": series}
