"""Results over a rich fixed data set, answered through the public endpoint, equal a plain-Python
computation written here from the rules alone (no service code): every grouping, several
periods, two sets of NPS/CSAT bands, a time zone whose months start at a half hour.

The data set has a rating before the first NPS question and a second NPS and CSAT question
(only the first of each type counts), optional questions skipped, scored and unscored choices,
responses answered in the month after their invitation, invitations never answered, a second
survey whose answers must not count, a client whose kind and tier changed after answering
(groups use them as known now) and clients with no tier. Also run on PostgreSQL
(test_survey_on_postgres)."""
from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from zoneinfo import ZoneInfo

import pytest

from services.survey.app import build_context, create_app
from services.survey.domain.scoring import FeedbackRules
from services.survey.service import SurveyRules
from shared.migrations import upgrade
from tests.conftest import auth, make_token
from tests.survey.survey_support import (active_survey, client_data, client_event, deliver,
                                         invite, learn_client, token_of)

ZONE = "Asia/Kolkata"  # UTC+05:30: a month starts at 18:30 UTC the day before

QUESTIONS = [
    {"key": "quality", "type": "rating", "scale": 4, "text": {"en": "Quality?"}},
    {"key": "recommend", "type": "nps", "required": True, "weight": 3,
     "text": {"en": "Recommend us?"}},
    {"key": "recommend_team", "type": "nps", "text": {"en": "Recommend the team?"}},
    {"key": "satisfied", "type": "csat", "text": {"en": "Satisfied?"}},
    {"key": "satisfied_billing", "type": "csat", "text": {"en": "Billing?"}},
    {"key": "effort", "type": "ces", "weight": 0.5, "text": {"en": "Easy?"}},
    {"key": "value", "type": "single_choice", "text": {"en": "Value?"},
     "options": [{"key": "poor", "score": 0, "label": {"en": "Poor"}},
                 {"key": "fair", "score": 35, "label": {"en": "Fair"}},
                 {"key": "good", "score": 100, "label": {"en": "Good"}},
                 {"key": "unsure", "label": {"en": "Not sure"}}]},
    {"key": "improve", "type": "multi_choice", "text": {"en": "Improve?"},
     "options": [{"key": "speed", "label": {"en": "Speed"}},
                 {"key": "price", "label": {"en": "Price"}}]},
    {"key": "comment", "type": "text", "text": {"en": "Anything else?"}},
]
# The other survey has no CES question; its answers must never count for the main one.
OTHER_QUESTIONS = [
    {"key": "recommend", "type": "nps", "required": True, "text": {"en": "Recommend us?"}},
    {"key": "satisfied", "type": "csat", "text": {"en": "Satisfied?"}},
]
# client: (kind, tier) when the data set is built
CLIENTS = {"ext-a": ("external", "A"), "ext-b": ("external", "B"), "int-c": ("internal", "C"),
           "user": ("end_user", None), "gov": ("government", "A"), "moved": ("internal", "C")}
# What the registry says about "moved" after its answers: kind and tier are read as known now.
MOVED_NOW = ("supplier", None)


def utc(*parts) -> datetime:
    return datetime(*parts, tzinfo=timezone.utc)


# (survey, client, invited at, answered at or None, answers)
ROWS = [
    ("main", "ext-a", utc(2025, 11, 20, 9), utc(2025, 11, 21, 9),
     {"quality": 4, "recommend": 10, "recommend_team": 2, "satisfied": 5, "satisfied_billing": 1,
      "effort": 7, "value": "good", "improve": ["speed"], "comment": "=1+1"}),
    ("main", "ext-b", utc(2025, 11, 28, 9), utc(2025, 12, 2, 9),   # answered the next month
     {"recommend": 6, "satisfied": 3, "value": "unsure"}),
    ("main", "int-c", utc(2025, 11, 30, 12), None, None),
    ("main", "user", utc(2025, 12, 10, 9), utc(2025, 12, 31, 18, 15),  # 23:45 on 31 December
     {"quality": 1, "recommend": 9, "effort": 1, "value": "poor", "improve": []}),
    ("main", "gov", utc(2025, 12, 20, 9), utc(2025, 12, 31, 18, 45),   # 00:15 on 1 January
     {"recommend": 7, "recommend_team": 10, "satisfied_billing": 5, "effort": 4}),
    ("main", "moved", utc(2025, 12, 31, 18, 40), utc(2026, 1, 5, 9),   # invited on 1 January
     {"quality": 3, "recommend": 8, "satisfied": 4, "effort": 6, "value": "fair",
      "comment": "慢"}),
    ("main", "ext-a", utc(2026, 1, 7, 9), utc(2026, 1, 7, 10),
     {"recommend": 0, "satisfied": 1, "satisfied_billing": 5, "effort": 2}),
    ("main", "int-c", utc(2026, 1, 8, 9), utc(2026, 1, 9, 9),
     {"quality": 2, "recommend": 5, "recommend_team": 9, "satisfied": 2, "value": "fair"}),
    ("main", "user", utc(2026, 1, 20, 9), None, None),
    ("main", "moved", utc(2026, 1, 25, 9), utc(2026, 1, 31, 18, 29),   # 23:59 on 31 January
     {"recommend": 9, "satisfied": 5, "effort": 5, "value": "good"}),
    ("main", "gov", utc(2026, 3, 2, 9), utc(2026, 3, 3, 9),            # nothing in February
     {"quality": 4, "recommend": 10, "satisfied": 4, "effort": 7, "improve": ["price", "speed"]}),
    ("main", "ext-b", utc(2026, 3, 4, 9), utc(2026, 3, 4, 9, 30),
     {"recommend": 3, "value": "poor"}),
    ("main", "ext-a", utc(2026, 3, 10, 9), utc(2026, 3, 11, 9),
     {"recommend": 8, "satisfied": 3, "effort": 3, "comment": "ok"}),
    ("main", "int-c", utc(2026, 3, 12, 9), None, None),
    ("other", "ext-a", utc(2025, 12, 1, 9), utc(2025, 12, 1, 10), {"recommend": 0, "satisfied": 1}),
    ("other", "gov", utc(2026, 1, 3, 9), utc(2026, 1, 3, 10), {"recommend": 10}),
    ("other", "user", utc(2026, 3, 5, 9), None, None),
]
PERIODS = [(None, None), (date(2026, 1, 1), date(2026, 2, 28)), (date(2025, 12, 31), date(2025, 12, 31)),
           (date(2026, 1, 1), None), (None, date(2025, 12, 31)), (date(2026, 2, 1), date(2026, 2, 28))]
BANDS = [FeedbackRules(), FeedbackRules(promoter_min=8, detractor_max=5, csat_satisfied_min=3)]


# -- the plain-Python computation ------------------------------------------------------------
def q2(value: Fraction | int) -> float:
    exact = Decimal(Fraction(value).numerator) / Decimal(Fraction(value).denominator)
    return float(exact.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def normalised(question: dict, answer) -> Fraction | None:
    kind = question["type"]
    if kind == "nps":
        return Fraction(answer * 10)
    if kind == "csat":
        return Fraction(answer - 1, 4) * 100
    if kind == "ces":
        return Fraction(answer - 1, 6) * 100
    if kind == "rating":
        return Fraction(answer - 1, question["scale"] - 1) * 100
    if kind == "single_choice":
        score = next(option.get("score") for option in question["options"]
                     if option["key"] == answer)
        return None if score is None else Fraction(score)
    return None


def score_of(answers: dict) -> Fraction | None:
    """The stored score: the weighted mean of the normalised answers, rounded once."""
    parts = [(Fraction(str(question.get("weight", 1))), normalised(question, answers[question["key"]]))
             for question in QUESTIONS if question["key"] in answers]
    parts = [(weight, value) for weight, value in parts if value is not None]
    if not parts:
        return None
    return Fraction(str(q2(sum(w * v for w, v in parts) / sum(w for w, _v in parts))))


def figures(responses: list[dict], invitations: int, answered: int, bands: FeedbackRules) -> dict:
    nps = [answers["recommend"] for answers in responses]
    csat = [answers["satisfied"] for answers in responses if "satisfied" in answers]
    ces = [answers["effort"] for answers in responses if "effort" in answers]
    scores = [score for score in map(score_of, responses) if score is not None]
    promoters = sum(1 for value in nps if value >= bands.promoter_min)
    detractors = sum(1 for value in nps if value < bands.promoter_min and value <= bands.detractor_max)
    return {
        "responses": len(responses), "invitations": invitations,
        "response_rate": q2(Fraction(answered * 100, invitations)) if invitations else None,
        "score_mean": q2(sum(scores) / len(scores)) if scores else None,
        "nps": {"score": q2(Fraction((promoters - detractors) * 100, len(nps))) if nps else None,
                "promoters": promoters, "passives": len(nps) - promoters - detractors,
                "detractors": detractors, "answered": len(nps)},
        "csat": {"score": q2(Fraction(sum(1 for v in csat if v >= bands.csat_satisfied_min) * 100,
                                      len(csat))) if csat else None,
                 "answered": len(csat)},
        "ces": {"score": q2(Fraction(sum(ces), len(ces))) if ces else None, "answered": len(ces)},
    }


def expected_results(start: date | None, end: date | None, group_by: str | None,
                     bands: FeedbackRules) -> tuple[dict, list[dict]]:
    zone = ZoneInfo(ZONE)
    now = {**CLIENTS, "moved": MOVED_NOW}

    def within(moment: datetime) -> bool:
        day = moment.astimezone(zone).date()
        return (start is None or day >= start) and (end is None or day <= end)

    def key(client: str, moment: datetime) -> str:
        if group_by == "month":
            return moment.astimezone(zone).strftime("%Y-%m")
        kind, tier = now[client]
        return (kind if group_by == "kind" else tier) or "unknown"

    responses, invitations = defaultdict(list), defaultdict(lambda: [0, 0])
    for survey, client, invited, answered, answers in ROWS:
        if survey != "main":
            continue
        if within(invited):
            counted = invitations[key(client, invited)]
            counted[0] += 1
            counted[1] += answered is not None
        if answered is not None and within(answered):
            responses[key(client, answered)].append(answers)
    overall = figures([a for group in responses.values() for a in group],
                      sum(c[0] for c in invitations.values()),
                      sum(c[1] for c in invitations.values()), bands)
    groups = []
    if group_by:
        groups = [{"key": group, **figures(responses.get(group, []), *invitations.get(group, (0, 0)),
                                           bands)}
                  for group in sorted(responses.keys() | invitations.keys())]
    return overall, groups


# -- the data set, answered through the service ----------------------------------------------
@pytest.fixture(params=BANDS, ids=["usual bands", "other bands"])
def rich(request, survey_settings, clock):
    configured = survey_settings.with_overrides(timezone=ZONE)
    upgrade("survey", configured.database_url("survey"))
    ctx = build_context(configured, clock=clock, rules=SurveyRules(feedback=request.param))
    http = create_app(context=ctx).test_client()
    staff = auth(make_token(configured, "staff", days=365))
    try:
        clock.offset = utc(2025, 11, 1) - datetime.now(timezone.utc)
        surveys = {name: active_survey(http, staff, languages=["en"], title={"en": name},
                                       intro={"en": name}, questions=questions)["id"]
                   for name, questions in (("main", QUESTIONS), ("other", OTHER_QUESTIONS))}
        clients = {name: learn_client(ctx, kind=kind, tier=tier)
                   for name, (kind, tier) in CLIENTS.items()}
        links = []
        for survey, client, invited, answered, answers in ROWS:
            clock.offset = invited - datetime.now(timezone.utc)
            url = invite(http, staff, surveys[survey], clients[client], expires_in_days=60,
                         allow_duplicate=True)["url"]
            links.append((answered, url, answers))
        for answered, url, answers in sorted(links, key=lambda link: link[0] or utc(2100, 1, 1)):
            if answered is None:
                continue
            clock.offset = answered - datetime.now(timezone.utc)
            response = http.post("/api/v1/public/responses",
                                 json={"token": token_of(url), "answers": answers})
            assert response.status_code == 201, response.get_data(as_text=True)
            expected = score_of(answers)
            assert response.get_json()["score"] == (None if expected is None else float(expected))
        moved = clients["moved"]
        kind, tier = MOVED_NOW
        deliver(ctx, client_event("client.updated", moved,
                                  client_data(moved, kind=kind, category="supplier", tier=tier)))
        yield http, staff, surveys["main"], request.param
    finally:
        ctx.extras["delivery_worker"].stop()
        ctx.database.dispose()


def test_results_equal_a_plain_computation_for_every_grouping_and_period(rich):
    http, staff, survey_id, bands = rich
    compared = 0
    for start, end in PERIODS:
        for group_by in (None, "month", "kind", "tier"):
            query = "&".join(f"{name}={value}" for name, value in (
                ("from", start), ("to", end), ("group_by", group_by)) if value is not None)
            answer = http.get(f"/api/v1/surveys/{survey_id}/results?{query}", headers=staff)
            assert answer.status_code == 200, answer.get_data(as_text=True)
            body = answer.get_json()
            overall, groups = expected_results(start, end, group_by, bands)
            where = f"from={start} to={end} group_by={group_by}"
            assert body["overall"] == overall, where
            assert body["groups"] == groups, where
            assert (body["from"], body["to"], body["group_by"]) == (
                start and start.isoformat(), end and end.isoformat(), group_by), where
            compared += 1
    assert compared == len(PERIODS) * 4


def test_the_data_set_exercises_what_it_claims(rich):
    """Guards the data set itself: months across the year with a gap, answers in the month after
    the invitation, the groups the moved client left and joined, unanswered invitations."""
    http, staff, survey_id, bands = rich
    _overall, months = expected_results(None, None, "month", bands)
    assert [group["key"] for group in months] == ["2025-11", "2025-12", "2026-01", "2026-03"]
    assert any(group["responses"] != group["invitations"] for group in months)
    _overall, kinds = expected_results(None, None, "kind", bands)
    assert "supplier" in {group["key"] for group in kinds}
    _overall, tiers = expected_results(None, None, "tier", bands)
    assert "unknown" in {group["key"] for group in tiers}
    body = http.get(f"/api/v1/surveys/{survey_id}/results?group_by=month", headers=staff).get_json()
    assert [group["key"] for group in body["groups"]] == ["2025-11", "2025-12", "2026-01", "2026-03"]
