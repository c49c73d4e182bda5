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
        """The client's ledger once it holds this response's entry. The demo's answers (added
        by the periodic jobs, back-dated over the last weeks, to whichever clients the survey
        service knows when it adds them) may have reached this client too."""
        body = requests.get(f"{url}/registry/api/v1/clients/{client['id']}/satisfaction",
                            headers=headers, timeout=5).json()
        mine = [entry for entry in body.get("ledger") or []
                if entry["event_type"] == "survey.response.submitted"
                and parse_timestamp(entry["occurred_at"]) == submitted]
        return (body, mine[0]) if mine else None

    found = eventually(satisfaction, timeout=15, interval=0.2)
    assert found, embedded.output()
    moved, mine = found
    assert moved["ledger"][-1] == mine and moved["current"] == mine["value"]  # the newest
    if mine["delta"] is None:  # the client's first score sets S
        assert mine["value"] == score, moved
    else:  # S moves 30 % of the way to the score
        before = moved["ledger"][-2]["value"]
        assert abs(mine["value"] - (before + 0.3 * (score - before))) <= 0.01, moved
    assert embedded.interrupt() == 0
