"""The demo answers its satisfaction survey once clients are known, with comments in both
languages whose themes and detractor drivers the results show."""
from __future__ import annotations

from services.survey.app import load_demo, run_jobs
from services.survey.demo import ANSWERS
from tests.survey.survey_support import learn_client


def test_the_demo_answers_once_clients_are_known_and_shows_themes(survey_ctx, http, analyst):
    assert load_demo(survey_ctx) == 2
    assert "demo_answers" not in run_jobs(survey_ctx, survey_ctx.clock())  # no client yet
    learn_client(survey_ctx, name="华为", language="zh-CN")
    learn_client(survey_ctx, name="Acme", language="en")
    assert run_jobs(survey_ctx, survey_ctx.clock())["demo_answers"] == len(ANSWERS)
    assert "demo_answers" not in run_jobs(survey_ctx, survey_ctx.clock())  # once
    surveys = http.get("/api/v1/surveys", headers=analyst).get_json()["items"]
    demo = next(item for item in surveys if not item["send_after_complaint_resolved"])
    body = http.get(f"/api/v1/surveys/{demo['id']}/themes", headers=analyst).get_json()
    assert body["responses_with_text"] == len(ANSWERS)
    top = {item["theme"] for item in body["items"][:6]}
    assert {"物流", "价格", "客服", "support", "delivery", "invoice"} <= top
    drivers = [item["theme"] for item in body["detractor_drivers"]]
    assert drivers[:2] == ["物流", "delivery"] and "价格" in drivers
    languages = {example["language"] for item in body["items"] for example in item["examples"]}
    assert languages == {"zh-CN", "en"}
