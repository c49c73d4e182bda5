"""NPS per month with its 95 % interval, and whether a month changed significantly.

For a month with ``n`` answers to the first NPS question, ``p`` and ``d`` the promoter and
detractor shares: NPS = 100·(p − d), its standard error
SE = √((p(1−p) + d(1−d) + 2pd) / n) · 100 (the variance of a difference of two shares of one
multinomial sample), and the interval NPS ± 1.96·SE clamped to [−100, 100]. ``changed`` is true
when a month's interval does not overlap the one of the nearest earlier month that has an
interval. A month without answers has ``nps`` and ``nps_ci95`` null and is never ``changed``.
"""
from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction
from typing import Any, Iterable

from .rounding import round_half_up

Z95 = 1.96


def nps_interval(promoters: int, passives: int, detractors: int,
                 places: int = 2) -> tuple[Decimal, Decimal] | None:
    """The clamped 95 % interval of the NPS, or None without answers."""
    n = promoters + passives + detractors
    if n == 0:
        return None
    p, d = promoters / n, detractors / n
    nps = 100 * (p - d)
    se = math.sqrt((p * (1 - p) + d * (1 - d) + 2 * p * d) / n) * 100
    lo, hi = max(-100.0, nps - Z95 * se), min(100.0, nps + Z95 * se)
    return (round_half_up(Fraction(lo), places), round_half_up(Fraction(hi), places))


def nps_trend(months: Iterable[tuple[str, dict[str, Any]]],
              places: int = 2) -> list[dict[str, Any]]:
    """``[{"month", "nps", "nps_ci95", "answered", "changed"}]`` from ``(month, nps)`` pairs in
    month order, ``nps`` being the ``{"score", "promoters", "passives", "detractors",
    "answered"}`` object of the results."""
    trend = []
    previous: tuple[Decimal, Decimal] | None = None
    for month, nps in months:
        interval = nps_interval(nps["promoters"], nps["passives"], nps["detractors"], places)
        changed = (interval is not None and previous is not None
                   and (interval[1] < previous[0] or interval[0] > previous[1]))
        trend.append({"month": month, "nps": nps["score"],
                      "nps_ci95": list(interval) if interval else None,
                      "answered": nps["answered"], "changed": changed})
        if interval is not None:
            previous = interval
    return trend
