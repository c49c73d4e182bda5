"""Registry and survey as separate processes on PostgreSQL and RabbitMQ.

* A response with score x moves the client's satisfaction in the registry within 2 seconds:
  S = x while S is null, else S + 0.3 × (x − S).
* A ``complaint.resolved`` on the bus invites the client to the survey marked
  ``send_after_complaint_resolved``, once per complaint.
"""
from __future__ import annotations

import time
import uuid
from decimal import ROUND_HALF_UP, Decimal

import pytest
import requests

from tests.conftest import make_token
from tests.e2e.harness import ProcessSuite, eventually
from tests.survey.survey_bus import publish
from tests.survey.survey_support import survey_fields, token_of

NPS_ONLY = {"questions": [{"key": "recommend", "type": "nps", "required": True,
                           "text": {"zh-CN": "您有多大可能推荐我们？", "en": "Would you recommend us?"}}]}


@pytest.fixture
def suite(tmp_path, rabbitmq_url, postgres_urls):
    suite = ProcessSuite(tmp_path, broker_url=rabbitmq_url, database_urls=postgres_urls)
    yield suite
    suite.stop()


def rounded(value: Decimal) -> float:
    return float(value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def test_feedback_moves_satisfaction_and_a_resolved_complaint_brings_a_follow_up_survey(
        suite, settings, rabbitmq_url):
    registry = suite.start("registry")
    survey_url = suite.start("survey")
    staff = {"Authorization": f"Bearer {make_token(settings, 'staff')}"}

    created = requests.post(f"{registry}/api/v1/clients", headers=staff, timeout=10, json={
        "name": "招商银行 China Merchants Bank", "kind": "external", "category": "enterprise",
        "preferred_language": "zh-CN"})
    assert created.status_code == 201, created.text
    client_id = created.json()["id"]

    def new_survey(**overrides) -> str:
        survey = requests.post(f"{survey_url}/api/v1/surveys", headers=staff, timeout=10,
                               json=survey_fields(**overrides)).json()
        published = requests.post(f"{survey_url}/api/v1/surveys/{survey['id']}/publish",
                                  headers=staff, timeout=10)
        assert published.status_code == 200, published.text
        return survey["id"]

    def invite(survey_id: str) -> dict | None:
        response = requests.post(f"{survey_url}/api/v1/surveys/{survey_id}/invitations",
                                 headers=staff, json={"client_id": client_id}, timeout=10)
        if response.status_code == 422:
            assert response.headers["Retry-After"] == "1"
            return None
        assert response.status_code == 201, response.text
        return response.json()["items"][0]

    def satisfaction() -> dict:
        return requests.get(f"{registry}/api/v1/clients/{client_id}/satisfaction", headers=staff,
                            timeout=5).json()

    def answer_and_wait(score: int, expected: float) -> float:
        item = eventually(lambda: invite(survey_id), timeout=10, interval=0.2)
        assert item, suite.logs()
        assert item["language"] == "zh-CN"
        before = len(satisfaction().get("ledger", []))
        submitted = requests.post(f"{survey_url}/api/v1/public/responses", timeout=10, json={
            "token": token_of(item["url"]), "answers": {"recommend": score // 10}})
        assert submitted.status_code == 201, submitted.text
        assert submitted.json()["score"] == score
        started = time.monotonic()
        moved = eventually(lambda: len(satisfaction().get("ledger", [])) > before and satisfaction(),
                           timeout=2.0, interval=0.05)
        elapsed = time.monotonic() - started
        assert moved, f"satisfaction did not move within 2 s: {satisfaction()}\n{suite.logs()}"
        assert moved["current"] == expected, moved
        entry = moved["ledger"][-1]
        assert entry["event_type"] == "survey.response.submitted" and entry["value"] == expected
        return elapsed

    survey_id = new_survey(**NPS_ONLY)
    first = answer_and_wait(80, 80.0)                                    # S = x while null
    second = answer_and_wait(30, rounded(Decimal(80) + Decimal("0.3") * (30 - 80)))  # 65.0
    assert max(first, second) < 2.0
    print(f"satisfaction moved {first:.3f} s and {second:.3f} s after the submit answered")

    follow_up = new_survey(send_after_complaint_resolved=True,
                           title={"zh-CN": "投诉回访", "en": "After your complaint"})
    complaint_id = str(uuid.uuid4())
    data = {"complaint_id": complaint_id, "ref": "CMP-000007", "client_id": client_id,
            "severity": "medium", "resolution_code": "fixed", "root_cause": "process",
            "within_sla": True, "time_to_resolve_s": 7200.0, "waiting_s": 0.0}
    for _ in range(2):  # delivered twice (at least once): still one invitation
        publish(rabbitmq_url, service="complaints", event_type="complaint.resolved",
                subject=client_id, data=data)

    def follow_up_invitations():
        listed = requests.get(f"{survey_url}/api/v1/surveys/{follow_up}/invitations",
                              headers=staff, timeout=5).json()
        return listed if listed["total"] else None

    listed = eventually(follow_up_invitations, timeout=10, interval=0.2)
    assert listed, suite.logs("survey")
    time.sleep(0.5)
    listed = follow_up_invitations()
    assert listed["total"] == 1
    [item] = listed["items"]
    assert (item["client_id"], item["complaint_id"], item["language"], item["state"]) == (
        client_id, complaint_id, "zh-CN", "open")
