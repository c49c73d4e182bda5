"""Half-up rounding (ties away from zero) of exact numbers, for every service.

Figures are computed exactly — ``Decimal``, ``Fraction`` or ``int`` — and rounded once, when
shown or published: 2.345 → 2.35, −2.5 → −3, 1/8 → 0.13. A float goes through its shortest
decimal spelling (0.3 → 0.3), never its binary value. Pure Python: domain code may use it.
"""
from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, localcontext
from fractions import Fraction

Exact = Decimal | Fraction | int | float | str


def exact_decimal(value: Exact) -> Decimal:
    """``value`` as a Decimal without binary-float noise; a Fraction to 60 significant digits."""
    if isinstance(value, bool):
        raise TypeError("a boolean is not a number")
    if isinstance(value, Decimal):
        return value
    if isinstance(value, Fraction):
        with localcontext() as context:
            context.prec = 60
            return Decimal(value.numerator) / Decimal(value.denominator)
    if isinstance(value, float):
        return Decimal(repr(value))
    return Decimal(value)


def round_half_up(value: Exact, places: int = 2) -> Decimal:
    """``value`` rounded half away from zero to ``places`` decimals."""
    return exact_decimal(value).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
