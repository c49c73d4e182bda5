"""The demo answers its satisfaction survey once the demo's clients are known — those clients
only — with comments in both languages whose themes and detractor drivers the results show."""
from __future__ import annotations

from sqlalchemy import func, select

from services.survey.adapters.orm import InvitationRecord, ResponseRecord
from services.survey.app import load_demo, run_jobs
from services.survey.demo import ANSWERS
from shared.demo import CLIENT_IDS
from tests.survey.survey_support import learn_client


def test_the_demo_answers_once_clients_are_known_and_shows_themes(survey_ctx, http, analyst):
    assert load_demo(survey_ctx) == 2
    assert "demo_answers" not in run_jobs(survey_ctx, survey_ctx.clock())  # no client yet
    learn_client(survey_ctx, CLIENT_IDS[0], name="华为", language="zh-CN")
    learn_client(survey_ctx, CLIENT_IDS[5], name="Acme", language="en")
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


def test_the_demo_answers_only_the_demo_clients(survey_ctx):
    """A client someone registers while the demo loads (known here before the demo's own
    clients) never receives demo answers: the demo waits for its clients, then answers them."""
    assert load_demo(survey_ctx) == 2
    theirs = learn_client(survey_ctx, name="深圳地铁 Shenzhen Metro", language="zh-CN")
    assert "demo_answers" not in run_jobs(survey_ctx, survey_ctx.clock())  # no demo client yet
    demo_clients = [learn_client(survey_ctx, client_id, name=f"Demo {number}", language="en")
                    for number, client_id in enumerate(CLIENT_IDS[:3])]
    assert run_jobs(survey_ctx, survey_ctx.clock())["demo_answers"] == len(ANSWERS)
    with survey_ctx.database.transaction() as session:
        invited = dict(session.execute(
            select(InvitationRecord.client_id, func.count()).group_by(InvitationRecord.client_id)
        ).all())
        answered = session.execute(select(func.count()).select_from(ResponseRecord)).scalar_one()
    assert theirs not in invited
    assert set(invited) == set(demo_clients) and sum(invited.values()) == answered == len(ANSWERS)
