"""Exact numbers inside, rounded numbers outside.

Every registry figure (satisfaction, deltas, health score, money) is computed with
:class:`~decimal.Decimal` and never rounded on the way; rounding happens once, when a figure is
shown or published. "Half-up" means a tie rounds away from zero (2.345 → 2.35, −2.5 → −3),
which is what a person doing the sum by hand expects.
"""
from __future__ import annotations

from decimal import Decimal

from shared.rounding import exact_decimal, round_half_up

__all__ = ["MINUS_SIGN", "Number", "to_decimal", "round_half_up", "format_number", "format_change"]

MINUS_SIGN = "\u2212"  # "−": the sign a reader sees in reasons, not the hyphen "-"

Number = Decimal | int | float | str


def to_decimal(value: Number) -> Decimal:
    """``value`` as an exact Decimal; a float goes through its shortest text form (0.3 → 0.3)."""
    return exact_decimal(value)


def format_number(value: Number, places: int = 2) -> str:
    """A number for a sentence: rounded half-up, no trailing zeros, a real minus sign.

    ``62`` → "62", ``67.40`` → "67.4", ``2.345`` → "2.35", ``-10`` → "−10".
    """
    rounded = round_half_up(value, places)
    if rounded == 0:
        return "0"
    text = f"{abs(rounded):f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return f"{MINUS_SIGN}{text}" if rounded < 0 else text


def format_change(value: Number, places: int = 2) -> str:
    """A change for a sentence, always signed: "+5", "+2.5", "−10", "0"."""
    text = format_number(value, places)
    return text if text.startswith(MINUS_SIGN) or text == "0" else f"+{text}"
