"""Rounding used by every number the survey service shows: half-up to a fixed number of places.

Scores and rates are computed exactly (``Fraction``) and rounded once, at the end.
"""
from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

from shared.rounding import round_half_up

__all__ = ["round_half_up", "percentage"]


def percentage(part: int | Fraction, whole: int, places: int = 2) -> Decimal | None:
    """``part`` as a percentage of ``whole`` (0–100), or ``None`` when ``whole`` is 0."""
    if whole == 0:
        return None
    return round_half_up(Fraction(part) * 100 / whole, places)
