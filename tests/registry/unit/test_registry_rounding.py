"""Exact numbers inside, half-up rounding and readable numbers outside."""
from __future__ import annotations

from decimal import Decimal

import pytest

from services.registry.domain.rounding import format_change, format_number, round_half_up


@pytest.mark.parametrize("value, places, expected", [
    ("2.345", 2, "2.35"),
    ("2.344", 2, "2.34"),
    ("64.25", 1, "64.3"),
    ("-2.5", 0, "-3"),
    (0.125, 2, "0.13"),   # a float goes through its shortest text, not its binary 0.12499…
    (70, 1, "70.0"),
])
def test_round_half_up_rounds_ties_away_from_zero(value, places, expected):
    assert round_half_up(value, places) == Decimal(expected)
    assert str(round_half_up(value, places)) == expected


@pytest.mark.parametrize("value, expected", [
    (Decimal("62"), "62"), (Decimal("67.40"), "67.4"), (Decimal("2.345"), "2.35"),
    (Decimal("-10"), "−10"), (Decimal("1E+2"), "100"), (Decimal("-0.001"), "0"),
])
def test_numbers_in_sentences_have_no_trailing_zeros_and_a_real_minus_sign(value, expected):
    assert format_number(value) == expected


def test_changes_in_sentences_are_always_signed():
    assert [format_change(x) for x in (Decimal(5), Decimal("2.5"), Decimal(-15), Decimal(0))] \
        == ["+5", "+2.5", "−15", "0"]
