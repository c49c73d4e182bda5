"""Human references: CMP-000123."""
from __future__ import annotations

import pytest

from services.complaints.domain.refs import format_ref, is_ref, parse_ref


@pytest.mark.parametrize("number, ref", [
    (1, "CMP-000001"), (123, "CMP-000123"), (999_999, "CMP-999999"), (1_234_567, "CMP-1234567"),
])
def test_references_have_at_least_six_digits_and_grow_beyond(number, ref):
    assert format_ref(number) == ref
    assert parse_ref(ref) == number


@pytest.mark.parametrize("number", [0, -5, True, 1.0, "12"])
def test_only_positive_integers_make_references(number):
    with pytest.raises(ValueError):
        format_ref(number)


@pytest.mark.parametrize("text", [
    "CMP-123", "cmp-000123", "CMP-0000123", "CMP-000000", " CMP-000123", "CMP-00012a", "", None,
])
def test_only_the_canonical_spelling_parses(text):
    with pytest.raises(ValueError):
        parse_ref(text)
    assert not is_ref(text)
