"""The arithmetic of the complaint analysis."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.complaints.domain.reports import (
    backlog_age_bucket, backlog_by_age, counts_by, mean_seconds, median_seconds, rate,
)

AS_OF = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)


def test_mean_and_median_of_nothing_are_unknown():
    assert mean_seconds([]) is None
    assert median_seconds([]) is None


def test_mean_and_median_of_durations():
    assert mean_seconds([60, 120, 600]) == 260
    assert median_seconds([60, 600, 120]) == 120


def test_the_median_of_an_even_count_is_between_the_middle_values():
    assert median_seconds([10, 40, 20, 30]) == 25


def test_the_mean_is_rounded_half_up_to_two_decimals():
    assert mean_seconds([1, 1, 2]) == 1.33
    assert mean_seconds([0, 0, 0, 0, 0, 0, 0, 1]) == 0.13   # 0.125 → 0.13


@pytest.mark.parametrize("part, whole, percentage", [
    (0, 5, 0.0), (5, 5, 100.0), (1, 3, 33.33), (2, 3, 66.67), (1, 8, 12.5), (1, 16, 6.25),
    (1, 800, 0.13),   # 0.125 → 0.13, not the banker's 0.12
])
def test_rates_are_percentages_rounded_half_up(part, whole, percentage):
    assert rate(part, whole) == percentage


def test_a_rate_of_nothing_is_unknown():
    assert rate(0, 0) is None


def test_a_part_larger_than_the_whole_is_a_programming_error():
    with pytest.raises(ValueError):
        rate(4, 3)


@pytest.mark.parametrize("age, bucket", [
    (timedelta(0), "lt_1d"),
    (timedelta(days=1) - timedelta(seconds=1), "lt_1d"),
    (timedelta(days=1), "1_3d"),
    (timedelta(days=3) - timedelta(seconds=1), "1_3d"),
    (timedelta(days=3), "3_7d"),
    (timedelta(days=7) - timedelta(seconds=1), "3_7d"),
    (timedelta(days=7), "gt_7d"),
    (timedelta(days=400), "gt_7d"),
])
def test_backlog_buckets_include_their_lower_edge(age, bucket):
    assert backlog_age_bucket(AS_OF - age, AS_OF) == bucket


def test_the_backlog_lists_every_bucket_even_when_empty():
    opened = [AS_OF - timedelta(hours=2), AS_OF - timedelta(days=10),
              AS_OF - timedelta(days=8)]

    assert backlog_by_age(opened, AS_OF) == {"lt_1d": 1, "1_3d": 0, "3_7d": 0, "gt_7d": 2}


def test_counts_list_known_values_first_and_keep_others():
    counts = counts_by(["high", "low", "high", "urgent"], known=("low", "medium", "high"))

    assert counts == {"low": 1, "medium": 0, "high": 2, "urgent": 1}
    assert list(counts) == ["low", "medium", "high", "urgent"]
