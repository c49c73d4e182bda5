"""Results and exports match numbers computed here, independently, from a constructed data set."""
from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal

import pytest

from tests.conftest import auth, make_token
from tests.survey.survey_support import active_survey, invite, learn_client, token_of

# (client kind, tier, month offset, answers or None for an unanswered invitation)
DATA = [
    ("external", "A", 0, {"recommend": 10, "satisfied": 5, "effort": 7, "quality": 5, "value": "good"}),
    ("external", "A", 0, {"recommend": 9, "satisfied": 4, "effort": 5}),
    ("external", "B", 0, {"recommend": 6, "satisfied": 2, "comment": "=HYPERLINK(\"x\")"}),
    ("internal", "C", 0, {"recommend": 7, "satisfied": 3, "effort": 2, "value": "poor"}),
    ("internal", None, 0, None),
    ("external", "B", 1, {"recommend": 0, "satisfied": 1, "effort": 1, "quality": 1}),
    ("internal", "C", 1, {"recommend": 8, "satisfied": 4, "improve": ["price"], "comment": "慢"}),
    ("internal", "C", 1, None),
    ("end_user", None, 1, {"recommend": 10, "satisfied": 5, "value": "fair"}),
]
CATEGORY = {"external": "enterprise", "internal": "team_member", "end_user": "end_user"}
WEIGHTS = {"recommend": 2, "satisfied": 1, "effort": 1, "quality": 1, "value": 1}
VALUE_SCORES = {"poor": 0, "fair": 50, "good": 100}
START = datetime(2026, 1, 10, 12, 0, tzinfo=timezone.utc)


def q2(value) -> float | None:
    if value is None:
        return None
    return float(Decimal(str(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def expected_score(answers: dict) -> float | None:
    parts = []
    for key, answer in answers.items():
        if key == "recommend":
            parts.append((WEIGHTS[key], Decimal(answer) * 10))
        elif key == "satisfied":
            parts.append((1, (Decimal(answer) - 1) / 4 * 100))
        elif key == "effort":
            parts.append((1, (Decimal(answer) - 1) / 6 * 100))
        elif key == "quality":
            parts.append((1, (Decimal(answer) - 1) / 4 * 100))
        elif key == "value":
            parts.append((1, Decimal(VALUE_SCORES[answer])))
    if not parts:
        return None
    return q2(sum(w * v for w, v in parts) / sum(w for w, _ in parts))


def expected_metrics(rows) -> dict:
    answered = [answers for *_rest, answers in rows if answers is not None]
    nps = [a["recommend"] for a in answered if "recommend" in a]
    csat = [a["satisfied"] for a in answered if "satisfied" in a]
    ces = [a["effort"] for a in answered if "effort" in a]
    scores = [s for s in (expected_score(a) for a in answered) if s is not None]
    promoters = sum(1 for v in nps if v >= 9)
    detractors = sum(1 for v in nps if v <= 6)
    return {
        "responses": len(answered), "invitations": len(rows),
        "response_rate": q2(Decimal(len(answered)) * 100 / len(rows)) if rows else None,
        # the mean of the stored (already rounded) scores
        "score_mean": q2(sum(Decimal(str(s)) for s in scores) / len(scores)) if scores else None,
        "nps": {"score": q2(Decimal(promoters - detractors) * 100 / len(nps)) if nps else None,
                "promoters": promoters, "passives": len(nps) - promoters - detractors,
                "detractors": detractors, "answered": len(nps)},
        "csat": {"score": q2(Decimal(sum(1 for v in csat if v >= 4)) * 100 / len(csat)) if csat else None,
                 "answered": len(csat)},
        "ces": {"score": q2(Decimal(sum(ces)) / len(ces)) if ces else None, "answered": len(ces)},
    }


@pytest.fixture
def data_set(http, survey_ctx, clock):
    staff = auth(make_token(survey_ctx.settings, "staff", days=365))
    survey = active_survey(http, staff)
    clock.offset = START - datetime.now(timezone.utc)
    for index, (kind, tier, month, answers) in enumerate(DATA):
        moment = START + timedelta(days=31 * month, minutes=index)
        clock.offset = moment - datetime.now(timezone.utc)
        client_id = learn_client(survey_ctx, kind=kind, category=CATEGORY[kind], tier=tier)
        item = invite(http, staff, survey["id"], client_id, expires_in_days=90)
        if answers is not None:
            response = http.post("/api/v1/public/responses",
                                 json={"token": token_of(item["url"]), "answers": answers})
            assert response.status_code == 201
            assert response.get_json()["score"] == expected_score(answers)
    return survey, staff


def test_overall_results_match_an_independent_computation(http, data_set):
    survey, staff = data_set
    body = http.get(f"/api/v1/surveys/{survey['id']}/results", headers=staff).get_json()
    assert body["survey_id"] == survey["id"] and body["from"] is None and body["groups"] == []
    assert body["overall"] == expected_metrics(DATA)


@pytest.mark.parametrize("group_by, key", [
    ("month", lambda row: f"2026-{1 + row[2]:02d}"),
    ("kind", lambda row: row[0]),
    ("tier", lambda row: row[1] or "unknown"),
])
def test_groups_match_an_independent_computation(http, data_set, group_by, key):
    survey, staff = data_set
    body = http.get(f"/api/v1/surveys/{survey['id']}/results?group_by={group_by}",
                    headers=staff).get_json()
    expected = {}
    for row in DATA:
        expected.setdefault(key(row), []).append(row)
    assert [group["key"] for group in body["groups"]] == sorted(expected)
    for group in body["groups"]:
        assert {k: v for k, v in group.items() if k != "key"} == expected_metrics(expected[group["key"]])
    assert body["overall"] == expected_metrics(DATA)


def test_from_and_to_are_inclusive_calendar_dates(http, data_set):
    survey, staff = data_set
    url = f"/api/v1/surveys/{survey['id']}/results"
    january = http.get(f"{url}?from=2026-01-10&to=2026-01-10", headers=staff).get_json()
    assert january["from"] == "2026-01-10" and january["to"] == "2026-01-10"
    assert january["overall"] == expected_metrics([row for row in DATA if row[2] == 0])
    later = http.get(f"{url}?from=2026-01-11", headers=staff).get_json()
    assert later["overall"] == expected_metrics([row for row in DATA if row[2] == 1])
    nothing = http.get(f"{url}?to=2025-12-31", headers=staff).get_json()["overall"]
    assert nothing["responses"] == 0 and nothing["response_rate"] is None
    assert nothing["nps"]["score"] is None and nothing["score_mean"] is None


@pytest.mark.parametrize("query", ["from=2026-02-01&to=2026-01-01", "from=yesterday",
                                   "group_by=week", "to=2026-13-01"])
def test_bad_result_queries_are_422(http, data_set, query):
    survey, staff = data_set
    response = http.get(f"/api/v1/surveys/{survey['id']}/results?{query}", headers=staff)
    assert response.status_code == 422 and response.mimetype == "application/problem+json"


def test_responses_list_and_csv_export(http, data_set):
    survey, staff = data_set
    url = f"/api/v1/surveys/{survey['id']}/responses"
    listed = http.get(f"{url}?per_page=3", headers=staff).get_json()
    assert listed["total"] == 7 and len(listed["items"]) == 3
    assert listed["items"][0]["answers"]["recommend"] == 10
    assert listed["items"][0]["score"] == expected_score(DATA[0][3])
    exported = http.get(f"{url}?format=csv", headers=staff)
    assert exported.status_code == 200
    assert exported.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert "attachment" in exported.headers["Content-Disposition"]
    raw = exported.get_data()
    assert raw.startswith("\ufeff".encode("utf-8"))
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert len(rows) == 7
    assert list(rows[0])[:7] == ["response_id", "invitation_id", "client_id", "submitted_at",
                                 "language", "score", "scoring_version"]
    by_comment = {row["comment"]: row for row in rows if row["comment"]}
    assert "'=HYPERLINK(\"x\")" in by_comment and "慢" in by_comment
    assert by_comment["慢"]["improve"] == "price"
    feb = http.get(f"{url}?format=csv&from=2026-02-01", headers=staff).get_data().decode("utf-8-sig")
    assert len(list(csv.DictReader(io.StringIO(feb)))) == 3


@pytest.fixture
def shanghai(survey_settings, clock):
    from services.survey.app import build_context, create_app
    from shared.migrations import upgrade
    configured = survey_settings.with_overrides(timezone="Asia/Shanghai")
    upgrade("survey", configured.database_url("survey"))
    ctx = build_context(configured, clock=clock)
    yield ctx, create_app(context=ctx).test_client(), auth(make_token(configured, "staff", days=365))
    ctx.database.dispose()


def test_dates_and_months_are_those_of_the_installation_time_zone(shanghai, clock):
    ctx, http, staff = shanghai
    survey = active_survey(http, staff)
    # 2026-01-31 17:30 UTC is 2026-02-01 01:30 in Shanghai; 15:30 UTC is still 31 January there.
    for moment, answer in ((datetime(2026, 1, 31, 15, 30, tzinfo=timezone.utc), 10),
                           (datetime(2026, 1, 31, 17, 30, tzinfo=timezone.utc), 0)):
        clock.offset = moment - datetime.now(timezone.utc)
        item = invite(http, staff, survey["id"], learn_client(ctx))
        assert http.post("/api/v1/public/responses", json={
            "token": token_of(item["url"]), "answers": {"recommend": answer, "satisfied": 3}}).status_code == 201
    url = f"/api/v1/surveys/{survey['id']}/results"
    february = http.get(f"{url}?from=2026-02-01&to=2026-02-01", headers=staff).get_json()["overall"]
    assert (february["responses"], february["nps"]["detractors"]) == (1, 1)
    january = http.get(f"{url}?to=2026-01-31", headers=staff).get_json()["overall"]
    assert (january["responses"], january["nps"]["promoters"]) == (1, 1)
    months = http.get(f"{url}?group_by=month", headers=staff).get_json()["groups"]
    assert [(group["key"], group["responses"]) for group in months] == [("2026-01", 1), ("2026-02", 1)]
