"""The figures of the console's analysis page, from the report the API answers
(``adapters.reports.complaints_report``) with the weekly volume, shaped for charts and tables.

* the period: ``from``/``to`` calendar dates in ``CLIENTLOOP_TIMEZONE`` (default: the 12 weeks
  up to today), at most :data:`MAX_DAYS` long;
* the root-cause Pareto: causes biggest first with their share and the cumulative share, the
  first :data:`PARETO_TOP` shown by name and the rest summed as "other causes";
* the forecast of the weekly volume: the next :data:`FORECAST_WEEKS` weeks of the answer of
  ``GET /forecasts/complaints`` (``services.complaints.forecasts``, the same use case and
  cache), whatever the period.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Mapping

from services.complaints.adapters.reports import complaints_report, day_bounds
from services.complaints.domain.reports import report_number
from services.complaints.forecasts import complaints_forecast
from services.complaints.web.console_forms import read_day
from shared.web.console import N_

DEFAULT_DAYS = 84
MAX_DAYS = 731
PARETO_TOP = 10
FORECAST_WEEKS = 8
OTHER_CAUSES = "\x00other"
"""The key of the Pareto's last row (all the causes after the top ones); never a cause."""


@dataclass(frozen=True)
class Period:
    first_day: date
    last_day: date
    zone: Any


def read_period(args: Mapping[str, str], now: datetime, zone) -> tuple[Period, dict]:
    """The period asked for, and what was wrong with it (then the default period)."""
    errors: dict[str, list[str]] = {}
    first_day = read_day(args.get("from"), "from", errors)
    last_day = read_day(args.get("to"), "to", errors)
    today = now.astimezone(zone).date()
    last_day = last_day or today
    first_day = first_day or last_day - timedelta(days=DEFAULT_DAYS - 1)
    if not errors and first_day > last_day:
        errors["to"] = [N_("Must not be before the first day.")]
    elif not errors and (last_day - first_day).days + 1 > MAX_DAYS:
        errors["from"] = [N_("The period may be at most two years long.")]
    if errors:
        last_day = today
        first_day = today - timedelta(days=DEFAULT_DAYS - 1)
    return Period(first_day, last_day, zone), errors


def pareto(by_root_cause: Mapping[str, int], top: int = PARETO_TOP) -> list[dict[str, Any]]:
    """Rows ``{"cause", "complaints", "share", "cumulative_share"}`` (shares in %), biggest
    first; causes after the first ``top`` are summed in one row keyed :data:`OTHER_CAUSES`."""
    ranked = sorted(by_root_cause.items(), key=lambda item: (-item[1], item[0]))
    rows = ranked[:top]
    rest = sum(count for _cause, count in ranked[top:])
    if rest:
        rows.append((OTHER_CAUSES, rest))
    total = sum(by_root_cause.values())
    running = 0
    result = []
    for cause, count in rows:
        running += count
        result.append({"cause": cause, "complaints": count,
                       "share": report_number(Decimal(count) * 100 / total),
                       "cumulative_share": report_number(Decimal(running) * 100 / total)})
    return result


def figures(session, period: Period, now: datetime) -> dict[str, Any]:
    start, end = day_bounds(period.first_day, period.last_day, period.zone)
    report = complaints_report(session, first_day=period.first_day, last_day=period.last_day,
                               start=start, end=end, now=now, zone=period.zone)  # and "weekly"
    report["pareto"] = pareto(report["by_root_cause"])
    return report


def weekly_forecast(session, *, now: datetime, zone, cache) -> dict[str, Any] | None:
    """The one series of ``GET /forecasts/complaints?by=none&horizon_weeks=8``: ``method``,
    ``forecast`` (weeks from the current one) and ``backtest``; None without a series."""
    answer = complaints_forecast(session, by="none", horizon=FORECAST_WEEKS, now=now, zone=zone,
                                 cache=cache)
    if not answer["series"]:
        return None
    series = answer["series"][0]
    return {"method": answer["method"], "forecast": series["forecast"],
            "backtest": series["backtest"]}
