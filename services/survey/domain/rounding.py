"""Rounding used by every number the survey service shows: half-up to a fixed number of places.

Scores and rates are computed exactly (``Fraction``) and rounded once, at the end.
"""
from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, localcontext
from fractions import Fraction


def round_half_up(value: Fraction | Decimal | int, places: int = 2) -> Decimal:
    """``value`` rounded half away from zero to ``places`` decimals (1/8 → 0.13, −1/8 → −0.13)."""
    with localcontext() as context:
        context.prec = 60
        if isinstance(value, Fraction):
            exact = Decimal(value.numerator) / Decimal(value.denominator)
        else:
            exact = Decimal(value)
        return exact.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def percentage(part: int | Fraction, whole: int, places: int = 2) -> Decimal | None:
    """``part`` as a percentage of ``whole`` (0–100), or ``None`` when ``whole`` is 0."""
    if whole == 0:
        return None
    return round_half_up(Fraction(part) * 100 / whole, places)
