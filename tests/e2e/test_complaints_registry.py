"""Registry and complaints as separate processes on PostgreSQL and RabbitMQ: a complaint's
events move the client's satisfaction record in the registry within two seconds."""
from __future__ import annotations

import time

import pytest
import requests

from tests.conftest import make_token
from tests.e2e.harness import ProcessSuite, eventually

WITHIN_S = 2.0


@pytest.fixture
def suite(tmp_path, rabbitmq_url, postgres_urls):
    suite = ProcessSuite(tmp_path, broker_url=rabbitmq_url, database_urls=postgres_urls)
    yield suite
    suite.stop()


def test_a_high_complaint_lowers_satisfaction_and_its_resolution_in_time_restores_half(
        suite, settings):
    registry = suite.start("registry")
    complaints = suite.start("complaints")
    token = make_token(settings, "staff", "Li Wei")
    headers = {"Authorization": f"Bearer {token}"}

    created = requests.post(f"{registry}/api/v1/clients", headers=headers, timeout=10, json={
        "name": "华为 Huawei", "kind": "external", "category": "enterprise"})
    assert created.status_code == 201, created.text
    client_id = created.json()["id"]

    # The complaints service learns the client from client.registered; until then a 422 with
    # Retry-After: 1 says "not known yet".
    def open_complaint():
        response = requests.post(f"{complaints}/api/v1/complaints", headers=headers, timeout=10,
                                 json={"client_id": client_id, "channel": "phone",
                                       "category": "delivery", "severity": "high",
                                       "title": "Deliverable two weeks late"})
        if response.status_code == 422:
            assert response.headers["Retry-After"] == "1", response.text
            assert "client_id" in response.json()["errors"]
            return None
        assert response.status_code == 201, response.text
        return response.json()

    complaint = eventually(open_complaint, timeout=15, interval=0.2)
    assert complaint, suite.logs()
    opened_at = time.monotonic()

    def ledger():
        response = requests.get(f"{registry}/api/v1/clients/{client_id}/satisfaction",
                                headers=headers, timeout=5)
        assert response.status_code == 200, response.text
        return response.json()

    def entry_for(event_type):
        body = ledger()
        entries = [e for e in body["ledger"] if e["event_type"] == event_type]
        return (body, entries[-1]) if entries else None

    penalty = eventually(lambda: entry_for("complaint.opened"), timeout=WITHIN_S, interval=0.05)
    penalty_s = time.monotonic() - opened_at
    assert penalty, f"no penalty within {WITHIN_S} s\n{suite.logs()}"
    body, entry = penalty
    assert entry["delta"] == -10
    assert entry["value"] == 60 and body["current"] == 60
    assert complaint["ref"] in entry["reason"]

    for action, fields in (("acknowledge", {}), ("start", {}), (
            "resolve", {"resolution_code": "replacement", "root_cause": "Supplier delay",
                        "summary": "Delivered with a recovery plan"})):
        response = requests.post(f"{complaints}/api/v1/complaints/{complaint['id']}/actions",
                                 json={"action": action, **fields}, headers=headers, timeout=10)
        assert response.status_code == 200, response.text
    resolved_at = time.monotonic()
    assert response.json()["within_sla"] is True

    recovery = eventually(lambda: entry_for("complaint.resolved"), timeout=WITHIN_S,
                          interval=0.05)
    recovery_s = time.monotonic() - resolved_at
    assert recovery, f"no recovery within {WITHIN_S} s\n{suite.logs()}"
    body, entry = recovery
    assert entry["delta"] == 5
    assert entry["value"] == 65 and body["current"] == 65
    print(f"penalty visible after {penalty_s:.3f} s, recovery after {recovery_s:.3f} s")
