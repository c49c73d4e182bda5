from datetime import datetime, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from services.survey.domain.aggregates import (InvitationFacts, ResponseFacts, month_of,
                                               partition, summarise, summarise_groups)
from tests.survey.unit.survey_factories import question, survey

DEFINITION = survey(question("recommend", "nps"), question("satisfied", "csat"),
                    question("effort", "ces"), question("comment", "text"),
                    question("recommend_again", "nps"))
JAN = datetime(2026, 1, 10, 9, 0, tzinfo=timezone.utc)


def response(score=None, at=JAN, kind="external", tier="B", **answers) -> ResponseFacts:
    return ResponseFacts(definition=DEFINITION, answers=answers,
                         score=Decimal(score) if score is not None else None,
                         submitted_at=at, client_kind=kind, client_tier=tier)


def invitation(answered=True, at=JAN, kind="external", tier="B") -> InvitationFacts:
    return InvitationFacts(created_at=at, answered=answered, client_kind=kind, client_tier=tier)


RESPONSES = [
    response("90", recommend=10, satisfied=5, effort=7),
    response("72.5", recommend=9, satisfied=4, effort=6),
    response(None, recommend=7, satisfied=3, comment="Fine"),
    response("40", recommend=3, effort=4),
    response(None, comment="No ratings from me", recommend_again=0),
    response("81.25", recommend=9),
]
INVITATIONS = [invitation() for _ in range(6)] + [invitation(answered=False)]


def test_results_over_a_set_of_responses():
    results = summarise(RESPONSES, INVITATIONS)

    # NPS answers 10, 9, 7, 3, 9 (one response skipped it; a second NPS question never counts):
    # 3 promoters, 1 passive, 1 detractor → (3 − 1) / 5 = 40 %.
    # CSAT answers 5, 4, 3 → 2 of 3 satisfied = 66.666… %.
    # CES answers 7, 6, 4 → 17 / 3 = 5.666…
    # Scores 90, 72.5, 40, 81.25 → 283.75 / 4 = 70.9375.
    # 6 of 7 invitations answered → 85.714… %.
    assert results == {
        "responses": 6,
        "invitations": 7,
        "response_rate": Decimal("85.71"),
        "score_mean": Decimal("70.94"),
        "nps": {"score": Decimal("40.00"), "promoters": 3, "passives": 1, "detractors": 1,
                "answered": 5},
        "csat": {"score": Decimal("66.67"), "answered": 3},
        "ces": {"score": Decimal("5.67"), "answered": 3},
    }


def test_nps_can_be_negative():
    responses = [response(recommend=9), response(recommend=6), response(recommend=0)]
    # 1 promoter, 2 detractors of 3 → −33.33
    assert summarise(responses, [])["nps"]["score"] == Decimal("-33.33")


def test_nothing_to_measure_gives_null_scores_and_zero_counts():
    results = summarise([response(comment="Just a remark")], [])

    assert results == {
        "responses": 1, "invitations": 0, "response_rate": None, "score_mean": None,
        "nps": {"score": None, "promoters": 0, "passives": 0, "detractors": 0, "answered": 0},
        "csat": {"score": None, "answered": 0},
        "ces": {"score": None, "answered": 0},
    }


def test_months_are_those_of_the_installation_time_zone():
    # 17:30 UTC on 31 January is 01:30 on 1 February in Shanghai (UTC+8)
    late_january = datetime(2026, 1, 31, 17, 30, tzinfo=timezone.utc)
    assert month_of(late_january, ZoneInfo("Asia/Shanghai")) == "2026-02"
    assert month_of(late_january, ZoneInfo("UTC")) == "2026-01"
    with pytest.raises(ValueError):
        month_of(datetime(2026, 1, 31, 17, 30), ZoneInfo("UTC"))


def test_results_by_month_keep_the_response_rate_within_100_percent():
    feb = datetime(2026, 2, 3, 12, 0, tzinfo=timezone.utc)
    responses = [response("80", at=feb, recommend=10), response("60", at=feb, recommend=5)]
    invitations = [invitation(answered=True), invitation(answered=True),
                   invitation(answered=False, at=feb), invitation(answered=False, at=feb)]

    groups = summarise_groups(responses, invitations, "month", timezone.utc)

    assert [(g["key"], g["responses"], g["invitations"], g["response_rate"]) for g in groups] == [
        ("2026-01", 0, 2, Decimal("100.00")),
        ("2026-02", 2, 2, Decimal("0.00")),
    ]
    assert groups[1]["nps"]["score"] == Decimal("0.00")   # one promoter, one detractor


def test_results_by_kind_and_tier_put_unknown_clients_together():
    responses = [response("50", kind="internal", tier="A"), response("70", kind=None, tier=None),
                 response("90", kind="internal", tier="C")]

    by_kind = summarise_groups(responses, [], "kind", timezone.utc)
    by_tier = summarise_groups(responses, [], "tier", timezone.utc)

    assert [(g["key"], g["score_mean"]) for g in by_kind] == [
        ("internal", Decimal("70.00")), ("unknown", Decimal("70.00"))]
    assert [g["key"] for g in by_tier] == ["A", "C", "unknown"]


def test_an_unknown_grouping_is_refused():
    with pytest.raises(ValueError):
        summarise_groups(RESPONSES, INVITATIONS, "week", timezone.utc)


def test_partition_keeps_the_order_of_items_within_a_group():
    days = [JAN + timedelta(days=n) for n in (0, 25, 1, 26)]   # 10 Jan, 4 Feb, 11 Jan, 5 Feb
    groups = partition(days, lambda day: month_of(day, timezone.utc))
    assert groups == {"2026-01": [days[0], days[2]], "2026-02": [days[1], days[3]]}
