"""Registry forecasts: clients whose health band is projected to worsen
(``GET /api/v1/forecasts/at-risk``) and the monthly intake of requirements and change requests
(``GET /api/v1/forecasts/requirements``).

At-risk reads each active client's current record (S, open complaints, complaints of the last 90
days) and its satisfaction ledger of the last 90 days; the projection is the domain's
(``domain/at_risk.py``). Months for the intake are calendar months in ``CLIENTLOOP_TIMEZONE``;
the history is made of complete months (the current month is the first forecast month).
"""
from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.registry.adapters.orm import (ChangeRequestRecord, ClientRecord,
                                            RequirementRecord, SatisfactionEntryRecord)
from services.registry.domain.at_risk import TREND_DAYS, project
from services.registry.domain.open_complaints import OpenComplaints
from services.registry.domain.value import ValueRules
from shared.clock import as_utc
from shared.forecasting import (INSUFFICIENT_HISTORY, MONTHLY, ForecastCache, add_periods,
                                month_start, period_counts, series_payload)

SHOWN_MONTHS = 24
FIT_MONTHS = 60


def at_risk(session: Session, *, days: int, now: datetime, zone: ZoneInfo,
            rules: ValueRules, cache: ForecastCache | None = None) -> dict:
    """The at-risk answer; with ``cache``, computed once per day, ``days`` and data version
    (clients, their versions and records, ledger entries), so a repeated request costs one
    small query."""
    if cache is None:
        return _at_risk(session, days=days, now=now, zone=zone, rules=rules)
    key = ("at_risk", days, as_utc(now).astimezone(zone).date(), str(zone),
           _records_version(session))
    return cache.get(key, lambda: _at_risk(session, days=days, now=now, zone=zone, rules=rules))


def _records_version(session: Session) -> tuple:
    """Changes whenever a client's record, status or ledger changes."""
    clients = session.execute(select(func.count(ClientRecord.id), func.sum(ClientRecord.version),
                                     func.max(ClientRecord.records_at))).one()
    entries = session.execute(
        select(func.count()).select_from(SatisfactionEntryRecord)).scalar_one()
    return (*clients, entries)


def _at_risk(session: Session, *, days: int, now: datetime, zone: ZoneInfo,
             rules: ValueRules) -> dict:
    since = now - timedelta(days=TREND_DAYS)
    clients = session.execute(  # the columns the projection reads, not whole client rows
        select(ClientRecord.id, ClientRecord.name, ClientRecord.satisfaction,
               ClientRecord.open_low, ClientRecord.open_medium, ClientRecord.open_high,
               ClientRecord.open_critical, ClientRecord.complaints_90d)
        .where(ClientRecord.status == "active",
                                   ClientRecord.erased_at.is_(None),
                                   ClientRecord.satisfaction.is_not(None))
        .order_by(ClientRecord.name, ClientRecord.id)).all()
    ledgers: dict[str, list] = {}
    rows = session.execute(
        select(SatisfactionEntryRecord.client_id, SatisfactionEntryRecord.occurred_at,
               SatisfactionEntryRecord.value)
        .join(ClientRecord, ClientRecord.id == SatisfactionEntryRecord.client_id)
        .where(SatisfactionEntryRecord.occurred_at >= since, ClientRecord.status == "active"))
    for client_id, occurred_at, value in rows:
        ledgers.setdefault(client_id, []).append((as_utc(occurred_at), value))
    now = as_utc(now)
    today = now.astimezone(zone).date()
    items = []
    for client in clients:
        open_complaints = OpenComplaints(low=client.open_low, medium=client.open_medium,
                                         high=client.open_high, critical=client.open_critical)
        found = project(satisfaction=client.satisfaction, entries=ledgers.get(client.id, ()),
                        open_complaints=open_complaints, complaints_90d=client.complaints_90d,
                        now=now, today=today, days=days, rules=rules)
        if found is None:
            continue
        reasons = [f"satisfaction {client.satisfaction:.2f}, trend {found.slope:+.2f} a day "
                   f"over the last {TREND_DAYS} days"]
        open_count = sum(open_complaints.as_dict().values())
        if open_count:
            reasons.append(f"{open_count} open complaint(s)")
        if client.complaints_90d:
            reasons.append(f"{client.complaints_90d} complaint(s) in the last 90 days")
        items.append({"client_id": client.id, "name": client.name,
                      "health_score": found.health_score, "health_band": found.health_band,
                      "projected_health_score": found.projected_health_score,
                      "projected_band": found.projected_band,
                      "projected_on": found.projected_on.isoformat(), "reasons": reasons,
                      # the reasons' figures, for pages that word them in their own language
                      "why": {"satisfaction": client.satisfaction, "slope": found.slope,
                              "trend_days": TREND_DAYS, "open_complaints": open_count,
                              "complaints_90d": client.complaints_90d}})
    items.sort(key=lambda item: (item["projected_on"], item["name"]))
    return {"days": days, "items": items}


def _data_version(session: Session) -> tuple:
    return tuple(session.execute(select(func.count(RequirementRecord.id),
                                        func.max(RequirementRecord.created_at))).one()) + \
        tuple(session.execute(select(func.count(ChangeRequestRecord.id),
                                     func.max(ChangeRequestRecord.submitted_at))).one())


def requirements_forecast(session: Session, *, horizon: int, now: datetime, zone: ZoneInfo,
                          cache: ForecastCache) -> dict:
    this_month = month_start(now.astimezone(zone).date())
    key = ("requirements", horizon, this_month, str(zone), _data_version(session))
    return cache.get(key, lambda: _requirements(session, horizon=horizon,
                                                this_month=this_month, zone=zone))


def _requirements(session: Session, *, horizon: int, this_month, zone: ZoneInfo) -> dict:
    last_month = add_periods(this_month, -1, "month")
    first_month = add_periods(last_month, -(FIT_MONTHS - 1), "month")
    start = datetime.combine(first_month, time.min, tzinfo=zone)
    end = datetime.combine(this_month, time.min, tzinfo=zone)
    sources = (("requirements", RequirementRecord.created_at),
               ("change_requests", ChangeRequestRecord.submitted_at))
    days, keys = [], []
    for key, column in sources:
        for (at,) in session.execute(select(column).where(column >= start, column < end)):
            days.append(as_utc(at).astimezone(zone).date())
            keys.append(key)
    counts = period_counts(days, keys, first=first_month, last=last_month, unit="month")
    first_seen = min((month_start(d) for d in days), default=this_month)
    offset = (first_seen.year - first_month.year) * 12 + first_seen.month - first_month.month
    series = [series_payload(key, counts=counts.get(key, [0] * FIT_MONTHS), fitted_from=offset,
                             shown=SHOWN_MONTHS, last_start=last_month, horizon=horizon,
                             unit="month", settings=MONTHLY)
              for key, _ in sources]
    methods = [item.pop("method") for item in series]
    return {"method": methods[0] if methods else INSUFFICIENT_HISTORY, "series": series}
