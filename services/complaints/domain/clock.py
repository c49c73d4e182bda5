"""Time as the complaint rules see it: timezone-aware UTC instants, durations in whole seconds.

The domain never reads the clock; every rule receives ``now`` from its caller.
"""
from __future__ import annotations

from datetime import UTC, datetime, timedelta


def ensure_utc(moment: datetime, name: str = "now") -> datetime:
    """``moment`` in UTC; a naive datetime is a programming error."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime")
    return moment.astimezone(UTC)


def whole_seconds(span: timedelta) -> int:
    """A duration in whole seconds, rounded down; never negative (clock skew counts as 0)."""
    return max(0, span // timedelta(seconds=1))
