"""``GET /surveys/{id}/results?group_by=month`` carries the NPS trend with its intervals."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from tests.conftest import auth, make_token
from tests.survey.survey_support import active_survey, invite, learn_client, token_of

START = datetime(2026, 1, 10, 12, 0, tzinfo=timezone.utc)


def test_results_by_month_carry_nps_with_its_interval_and_changed(http, survey_ctx, clock):
    staff = auth(make_token(survey_ctx.settings, "staff", days=365))
    survey = active_survey(http, staff)
    months = [[10] * 8 + [7] + [3], [9] + [8] * 2 + [2] * 7]  # (8, 1, 1) then (1, 2, 7)
    for month, answers in enumerate(months):
        for index, answer in enumerate(answers):
            moment = START + timedelta(days=31 * month, minutes=index)
            clock.offset = moment - datetime.now(timezone.utc)
            item = invite(http, staff, survey["id"], learn_client(survey_ctx))
            assert http.post("/api/v1/public/responses", json={
                "token": token_of(item["url"]),
                "answers": {"recommend": answer, "satisfied": 3}}).status_code == 201
    url = f"/api/v1/surveys/{survey['id']}/results"
    body = http.get(f"{url}?group_by=month", headers=staff).get_json()
    assert body["trend"] == [
        {"month": "2026-01", "nps": 70.0, "nps_ci95": [30.31, 100.0], "answered": 10,
         "changed": False},
        {"month": "2026-02", "nps": -60.0, "nps_ci95": [-100.0, -18.89], "answered": 10,
         "changed": True}]
    assert "trend" not in http.get(url, headers=staff).get_json()
