"""Which clients' health band is projected to get worse, and when.

S is projected from the satisfaction ledger's trend: ``b`` is the least-squares slope (per day)
of the ledger values over the last 90 days — at least 3 entries spanning at least 7 days, else
there is no projection — damped by φ = 0.98 a day:

    S(t) = S_now + b · φ(1 − φᵗ)/(1 − φ), clamped to 0–100   (t in days from now)

so a trend fades and S moves at most b·φ/(1 − φ) = 49·b in all. The projected health is the value
record's formula (``value.health_score``) with S(t) and the client's current complaints (open
ones and those of the last 90 days, held as they are now). ``projected_on`` is the first day
(t = 1, 2, … ``days``) whose band is worse than the current one.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Iterable

from .open_complaints import OpenComplaints
from .value import AT_RISK, CRITICAL, DEFAULT_VALUE_RULES, HEALTHY, ValueRules, health_band, \
    health_score

PHI = 0.98
TREND_DAYS = 90
MIN_ENTRIES = 3
MIN_SPAN_DAYS = 7
_RANK = {HEALTHY: 0, AT_RISK: 1, CRITICAL: 2}


def trend_slope(entries: Iterable[tuple[datetime, Decimal | float]], now: datetime) -> float | None:
    """The least-squares slope (S per day) of the entries of the last 90 days, or None."""
    since = now - timedelta(days=TREND_DAYS)
    points = [((at - now).total_seconds() / 86400, float(value))
              for at, value in entries if since <= at <= now]
    if len(points) < MIN_ENTRIES:
        return None
    xs = [x for x, _ in points]
    if max(xs) - min(xs) < MIN_SPAN_DAYS:
        return None
    mean_x = sum(xs) / len(xs)
    mean_y = sum(y for _, y in points) / len(points)
    sxx = sum((x - mean_x) ** 2 for x in xs)
    return sum((x - mean_x) * (y - mean_y) for x, y in points) / sxx


def projected_satisfaction(s_now: float, slope: float, days: int) -> float:
    """S(t) = S_now + b·φ(1 − φᵗ)/(1 − φ), clamped to 0–100."""
    value = s_now + slope * PHI * (1 - PHI ** days) / (1 - PHI)
    return min(100.0, max(0.0, value))


@dataclass(frozen=True)
class Projection:
    health_score: Decimal
    health_band: str
    projected_health_score: Decimal
    projected_band: str
    projected_on: date
    slope: float


def project(*, satisfaction: Decimal | None, entries: Iterable[tuple[datetime, Decimal]],
            open_complaints: OpenComplaints, complaints_90d: int, now: datetime, today: date,
            days: int, rules: ValueRules = DEFAULT_VALUE_RULES) -> Projection | None:
    """The first day within ``days`` whose projected band is worse than today's, or None (no
    trend, no satisfaction yet, or no worsening)."""
    if satisfaction is None:
        return None
    slope = trend_slope(entries, now)
    if slope is None:
        return None
    current = health_score(satisfaction, open_complaints, complaints_90d, rules)
    band = health_band(current, rules)

    def on_day(t: int) -> tuple[Decimal, str]:
        s_t = Decimal(repr(projected_satisfaction(float(satisfaction), slope, t)))
        score = health_score(s_t, open_complaints, complaints_90d, rules)
        return score, health_band(score, rules)

    # S(t) only moves one way (the slope's sign), and health and band follow S, so "worse than
    # today" holds from some day on or never: look at the last day, then halve to the first.
    if slope >= 0 or _RANK[on_day(days)[1]] <= _RANK[band]:
        return None
    low, high = 1, days
    while low < high:
        middle = (low + high) // 2
        if _RANK[on_day(middle)[1]] > _RANK[band]:
            high = middle
        else:
            low = middle + 1
    score, new_band = on_day(low)
    return Projection(current, band, score, new_band, today + timedelta(days=low), slope)
