"""NPS per month with its 95 % interval, against hand-computed values."""
from decimal import Decimal

from services.survey.domain.trend import nps_interval, nps_trend


def nps(promoters, passives, detractors, score):
    return {"score": score, "promoters": promoters, "passives": passives,
            "detractors": detractors, "answered": promoters + passives + detractors}


def test_interval_by_hand_and_clamped_at_100():
    # p = 0.8, d = 0.1, n = 10: NPS 70; SE = √((0.16 + 0.09 + 0.16)/10)·100 = 20.2485;
    # 1.96·SE = 39.687 → [30.31, 109.69] → hi clamped to 100
    assert nps_interval(8, 1, 1) == (Decimal("30.31"), Decimal("100.00"))
    # p = 0.1, d = 0.7: NPS −60; SE = √((0.09 + 0.21 + 0.14)/10)·100 = 20.9762; ±41.113
    assert nps_interval(1, 2, 7) == (Decimal("-100.00"), Decimal("-18.89"))
    # p = 0.2, d = 0.6: NPS −40; SE = √((0.16 + 0.24 + 0.24)/10)·100 = 25.2982; ±49.584
    assert nps_interval(2, 2, 6) == (Decimal("-89.58"), Decimal("9.58"))
    assert nps_interval(0, 0, 0) is None
    # all passives: p = d = 0, SE 0 — a point interval
    assert nps_interval(0, 4, 0) == (Decimal("0.00"), Decimal("0.00"))


def test_changed_when_the_interval_does_not_overlap_the_previous_months():
    trend = nps_trend([("2026-01", nps(8, 1, 1, 70)), ("2026-02", nps(1, 2, 7, -60)),
                       ("2026-03", nps(0, 0, 0, None)), ("2026-04", nps(2, 2, 6, -40)),
                       ("2026-05", nps(10, 0, 0, 100))])
    assert [(m["month"], m["nps"], m["nps_ci95"], m["answered"], m["changed"])
            for m in trend] == [
        ("2026-01", 70, [Decimal("30.31"), Decimal("100.00")], 10, False),
        ("2026-02", -60, [Decimal("-100.00"), Decimal("-18.89")], 10, True),
        ("2026-03", None, None, 0, False),   # no answers: compared with neither neighbour
        ("2026-04", -40, [Decimal("-89.58"), Decimal("9.58")], 10, False),  # overlaps Feb
        ("2026-05", 100, [Decimal("100.00"), Decimal("100.00")], 10, True)]
