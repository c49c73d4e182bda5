"""The at-risk projection, worked by hand."""
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from services.registry.domain.at_risk import project, projected_satisfaction, trend_slope
from services.registry.domain.open_complaints import OpenComplaints

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
TODAY = date(2026, 3, 1)
NONE_OPEN = OpenComplaints()


def ledger(*points):
    return [(NOW - timedelta(days=days_ago), Decimal(str(value))) for days_ago, value in points]


def test_slope_needs_three_entries_over_seven_days_within_ninety():
    assert trend_slope(ledger((20, 80), (10, 68), (0, 53.6)), NOW) == pytest.approx(-1.32)
    assert trend_slope(ledger((20, 80), (0, 53.6)), NOW) is None              # 2 entries
    assert trend_slope(ledger((6, 80), (3, 70), (0, 60)), NOW) is None       # 6 days
    assert trend_slope(ledger((120, 10), (20, 80), (10, 68), (0, 53.6)), NOW) == \
        pytest.approx(-1.32)                                                  # 120 days ago: out


def test_projection_is_damped_and_clamped():
    # S(t) = S + b·φ(1 − φᵗ)/(1 − φ): 53.6 − 1.32·0.98·(1 − 0.98³)/0.02 = 53.6 − 3.8037
    assert projected_satisfaction(53.6, -1.32, 3) == pytest.approx(49.7963, abs=1e-4)
    assert projected_satisfaction(95, 2, 365) == 100
    assert projected_satisfaction(5, -2, 365) == 0


def test_a_falling_client_is_projected_into_at_risk_on_the_third_day():
    # S 80 → 68 → 53.6 over 20 days: b = −1.32 a day. Now health = 0.6·53.6 + 0.4·100 = 72.2.
    # t = 2: S = 51.0387, health 70.6 (healthy); t = 3: S = 49.7963, health 69.9 (at_risk).
    found = project(satisfaction=Decimal("53.6"), entries=ledger((20, 80), (10, 68), (0, 53.6)),
                    open_complaints=NONE_OPEN, complaints_90d=0, now=NOW, today=TODAY, days=90)
    assert (found.health_score, found.health_band) == (Decimal("72.2"), "healthy")
    assert (found.projected_health_score, found.projected_band, found.projected_on) == (
        Decimal("69.9"), "at_risk", date(2026, 3, 4))
    assert project(satisfaction=Decimal("53.6"), entries=ledger((20, 80), (10, 68), (0, 53.6)),
                   open_complaints=NONE_OPEN, complaints_90d=0, now=NOW, today=TODAY,
                   days=2) is None


def test_current_complaints_count_in_the_projected_health():
    # one open high complaint, opened in the last 90 days: C = 100 − 25 − 5 = 70, health now
    # 0.6·53.6 + 28 = 60.2 (at_risk); critical when 0.6·S + 28 < 39.95 ⇔ S < 19.9167
    # ⇔ 53.6 − 64.68(1 − 0.98ᵗ) < 19.9167 ⇔ 0.98ᵗ < 0.47923 ⇔ t > 36.41 → day 37
    found = project(satisfaction=Decimal("53.6"), entries=ledger((20, 80), (10, 68), (0, 53.6)),
                    open_complaints=OpenComplaints(high=1), complaints_90d=1, now=NOW,
                    today=TODAY, days=90)
    assert (found.health_band, found.projected_band, found.projected_on) == (
        "at_risk", "critical", date(2026, 4, 7))


def test_a_stable_client_or_no_satisfaction_is_not_projected():
    assert project(satisfaction=Decimal(70), entries=ledger((20, 70), (10, 70), (0, 70)),
                   open_complaints=NONE_OPEN, complaints_90d=0, now=NOW, today=TODAY,
                   days=365) is None
    assert project(satisfaction=None, entries=[], open_complaints=NONE_OPEN, complaints_90d=0,
                   now=NOW, today=TODAY, days=365) is None
