"""Human references of complaints: ``CMP-000123``.

The number comes from the service's sequence (1, 2, 3…). It is written with at least six
digits and simply grows beyond them (``CMP-1234567``). Only the canonical spelling parses,
so one complaint has exactly one reference.
"""
from __future__ import annotations

import re

PREFIX = "CMP-"
MIN_DIGITS = 6

_REF = re.compile(r"CMP-(\d{6,})")


def format_ref(number: int) -> str:
    """``format_ref(123) == "CMP-000123"``; the number must be a positive integer."""
    if isinstance(number, bool) or not isinstance(number, int) or number < 1:
        raise ValueError(f"A complaint number is a positive integer, not {number!r}")
    return f"{PREFIX}{number:0{MIN_DIGITS}d}"


def parse_ref(ref: str) -> int:
    """The number of a canonical reference; ``ValueError`` for anything else."""
    match = _REF.fullmatch(ref) if isinstance(ref, str) else None
    if match is None:
        raise ValueError(f"Not a complaint reference: {ref!r}")
    number = int(match.group(1))
    if number < 1 or format_ref(number) != ref:
        raise ValueError(f"Not a canonical complaint reference: {ref!r}")
    return number


def is_ref(text: str) -> bool:
    """Whether ``text`` is a canonical complaint reference."""
    try:
        parse_ref(text)
    except ValueError:
        return False
    return True
