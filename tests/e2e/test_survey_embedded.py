"""The survey service inside ``clientloop up --demo`` (embedded default: SQLite, filesystem bus)."""
from __future__ import annotations

import pytest
import requests

from shared.clock import parse_timestamp
from tests.e2e.harness import eventually
from tests.e2e.test_embedded_up import Suite


@pytest.fixture
def embedded(tmp_path):
    suite = Suite(tmp_path / "var", tmp_path, "--demo")
    try:
        suite.wait_healthy()
        yield suite
    finally:
        suite.close()


def test_the_embedded_suite_serves_demo_surveys_links_and_feedback(embedded):
    url, headers = embedded.url, embedded.headers()
    surveys = requests.get(f"{url}/survey/api/v1/surveys", headers=headers, timeout=10).json()
    assert surveys["total"] == 2, surveys
    assert {item["status"] for item in surveys["items"]} == {"active"}
    demo = next(item for item in surveys["items"] if not item["send_after_complaint_resolved"])
    assert {q["type"] for q in demo["questions"]} == {
        "nps", "csat", "ces", "rating", "single_choice", "multi_choice", "text"}

    client = requests.post(f"{url}/registry/api/v1/clients", headers=headers, timeout=10, json={
        "name": "深圳地铁 Shenzhen Metro", "kind": "external", "category": "government",
        "preferred_language": "zh-CN"}).json()

    def invite():
        response = requests.post(f"{url}/survey/api/v1/surveys/{demo['id']}/invitations",
                                 headers=headers, json={"client_id": client["id"]}, timeout=10)
        return response.json()["items"][0] if response.status_code == 201 else None

    item = eventually(invite, timeout=15, interval=0.2)
    assert item, embedded.output()
    assert item["url"].startswith(f"{url}/survey/s/")
    page = requests.get(item["url"], timeout=10)
    assert page.status_code == 200 and '<html lang="zh-CN">' in page.text
    stylesheet = requests.get(f"{url}/survey/static/survey/survey.css", timeout=10)
    assert stylesheet.status_code == 200

    token = item["url"].rsplit("/", 1)[1]
    answered = requests.post(f"{url}/survey/api/v1/public/responses", timeout=10, json={
        "token": token, "answers": {"recommend": 9, "satisfied": 5}})
    assert answered.status_code == 201, answered.text
    score, submitted = answered.json()["score"], parse_timestamp(answered.json()["submitted_at"])

    def satisfaction():
        """The client's records once they hold this response. The demo's own answers go to the
        demo's clients only, never to a client registered while the demo was loading."""
        body = requests.get(f"{url}/registry/api/v1/clients/{client['id']}/satisfaction",
                            headers=headers, timeout=5).json()
        return body if body.get("ledger") else None

    moved = eventually(satisfaction, timeout=15, interval=0.2)
    assert moved, embedded.output()
    [mine] = moved["ledger"]   # this response only: no demo answer reached this client
    assert mine["event_type"] == "survey.response.submitted"
    assert parse_timestamp(mine["occurred_at"]) == submitted
    assert mine["delta"] is None and mine["value"] == score == moved["current"], moved
    assert embedded.interrupt() == 0
