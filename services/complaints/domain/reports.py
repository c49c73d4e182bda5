"""Pure arithmetic of the complaint analysis (投诉分析), the reference the SQL is checked against.

* Durations (``time_to_acknowledge_s``, ``time_to_resolve_s``): mean and median of whole
  seconds, rounded half-up to 2 decimals; ``None`` when there is nothing to measure. The median
  of an even count is the mean of the two middle values.
* Rates: percentages 0–100 rounded half-up to 2 decimals; ``None`` when the denominator is 0
  (a rate of nothing is unknown, not 0 %).
* Backlog age buckets, by the age of an open complaint at the report's instant, lower edge
  inclusive: ``lt_1d`` [0, 1 day), ``1_3d`` [1 day, 3 days), ``3_7d`` [3 days, 7 days),
  ``gt_7d`` 7 days and more.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from statistics import median
from typing import Hashable, Iterable, Sequence

from shared.rounding import round_half_up

from .clock import ensure_utc

BACKLOG_BUCKETS: tuple[tuple[str, timedelta | None], ...] = (
    ("lt_1d", timedelta(days=1)),
    ("1_3d", timedelta(days=3)),
    ("3_7d", timedelta(days=7)),
    ("gt_7d", None),
)
"""Each bucket with its exclusive upper edge (``None``: no upper edge), youngest first."""


def report_number(value: float | Decimal | int) -> float:
    """A report figure: ``value`` rounded half-up to 2 decimals (2.675 → 2.68), as a JSON number."""
    return float(round_half_up(value, 2))


def mean_seconds(durations: Iterable[int | float]) -> float | None:
    values = [Decimal(str(value)) for value in durations]
    if not values:
        return None
    return report_number(sum(values) / len(values))


def median_seconds(durations: Iterable[int | float]) -> float | None:
    values = [Decimal(str(value)) for value in durations]
    if not values:
        return None
    return report_number(median(values))


def rate(part: int, whole: int) -> float | None:
    """``part`` as a percentage of ``whole``."""
    if whole == 0:
        return None
    if not 0 <= part <= whole:
        raise ValueError(f"A rate needs 0 <= part <= whole, not {part}/{whole}")
    return report_number(Decimal(part) * 100 / Decimal(whole))


def backlog_age_bucket(opened_at: datetime, as_of: datetime) -> str:
    """The bucket of a complaint opened at ``opened_at`` and still open at ``as_of``."""
    age = ensure_utc(as_of, "as_of") - ensure_utc(opened_at, "opened_at")
    for name, upper in BACKLOG_BUCKETS:
        if upper is None or age < upper:
            return name
    raise AssertionError("the last bucket has no upper edge")


def backlog_by_age(opened_ats: Iterable[datetime], as_of: datetime) -> dict[str, int]:
    """Counts per bucket, every bucket present (0 when empty), youngest first."""
    counts = {name: 0 for name, _ in BACKLOG_BUCKETS}
    for opened_at in opened_ats:
        counts[backlog_age_bucket(opened_at, as_of)] += 1
    return counts


def counts_by(values: Iterable[Hashable], known: Sequence[Hashable] = ()) -> dict:
    """Occurrences of each value; every ``known`` value present (0 when absent) and first, in
    its order, then any other value in order of first appearance."""
    counts: dict = {key: 0 for key in known}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return counts
