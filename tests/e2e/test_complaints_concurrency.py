"""Conflicting actions on one complaint never both succeed: 20 concurrent ``resolve`` requests
through a real multi-worker gunicorn on PostgreSQL give exactly one success; 20 concurrent
``assign`` requests, which do not conflict, all apply in turn."""
from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone

import pytest
import requests
from sqlalchemy import func, select

from services.complaints.adapters.orm import platform
from services.complaints.consumers import handlers
from shared.bus.consumer import apply_once
from shared.bus.envelope import Event
from shared.db import Database
from tests.complaints.complaints_helpers import client_data
from tests.conftest import make_token
from tests.e2e.harness import ProcessSuite

CONCURRENT = 20
RESOLVE = {"action": "resolve", "resolution_code": "fixed", "root_cause": "Race",
           "summary": "Resolved by whoever was first"}


@pytest.fixture
def suite(tmp_path, rabbitmq_url, postgres_urls):
    suite = ProcessSuite(tmp_path, broker_url=rabbitmq_url, database_urls=postgres_urls)
    yield suite
    suite.stop()


def know_client(database_url: str) -> str:
    """Tell the complaints database about a client, as its consumer would."""
    database = Database(database_url)
    try:
        client_id = str(uuid.uuid4())
        now = datetime.now(timezone.utc)
        event = Event(id=str(uuid.uuid4()), type="client.registered",
                      source="clientloop/registry", subject=client_id, time=now, sequence=None,
                      data=client_data(client_id))
        apply_once(database, platform, handlers(lambda: now)["client.registered"], event,
                   now=now)
        return client_id
    finally:
        database.dispose()


def fire_together(url: str, body: dict, headers: dict) -> list[requests.Response]:
    barrier = threading.Barrier(CONCURRENT)

    def send(_):
        barrier.wait()
        return requests.post(url, json=body, headers=headers, timeout=30)

    with ThreadPoolExecutor(CONCURRENT) as pool:
        return list(pool.map(send, range(CONCURRENT)))


def count_events(database_url: str, event_type: str) -> int:
    database = Database(database_url)
    try:
        with database.transaction() as session:
            return session.execute(select(func.count()).select_from(platform.outbox)
                                   .where(platform.outbox.c.event_type == event_type)
                                   ).scalar_one()
    finally:
        database.dispose()


def test_twenty_concurrent_resolves_give_exactly_one_success(suite, settings, postgres_urls):
    base = suite.start("complaints", workers=4, consume=False)
    client_id = know_client(postgres_urls["complaints"])
    token = make_token(settings, "staff")
    headers = {"Authorization": f"Bearer {token}"}

    def in_progress() -> dict:
        created = requests.post(f"{base}/api/v1/complaints", headers=headers, timeout=10, json={
            "client_id": client_id, "channel": "phone", "category": "service",
            "severity": "high", "title": "Two agents, one ticket"})
        assert created.status_code == 201, created.text
        complaint = created.json()
        for action in ("acknowledge", "start"):
            moved = requests.post(f"{base}/api/v1/complaints/{complaint['id']}/actions",
                                  json={"action": action}, headers=headers, timeout=10)
            assert moved.status_code == 200, moved.text
        return moved.json()

    complaint = in_progress()
    responses = fire_together(f"{base}/api/v1/complaints/{complaint['id']}/actions", RESOLVE,
                              headers)

    statuses = sorted(response.status_code for response in responses)
    assert statuses == [200] + [409] * (CONCURRENT - 1), suite.logs("complaints")
    for response in responses:
        if response.status_code == 409:
            assert response.json()["allowed_actions"] == ["close", "reopen"]
    final = requests.get(f"{base}/api/v1/complaints/{complaint['id']}", headers=headers,
                         timeout=10).json()
    assert final["status"] == "resolved"
    assert [entry["action"] for entry in final["timeline"]].count("resolve") == 1
    assert final["version"] == complaint["version"] + 1
    assert count_events(postgres_urls["complaints"], "complaint.resolved") == 1

    # With If-Match on the version everyone read: one wins, the others are 412 (or 409 once
    # the winner has committed).
    complaint = in_progress()
    responses = fire_together(f"{base}/api/v1/complaints/{complaint['id']}/actions", RESOLVE,
                              {**headers, "If-Match": f'"{complaint["version"]}"'})
    statuses = [response.status_code for response in responses]
    assert statuses.count(200) == 1, statuses
    assert set(statuses) <= {200, 409, 412}, statuses
    assert count_events(postgres_urls["complaints"], "complaint.resolved") == 2

    # Actions that do not conflict queue on the row and all apply, each to the version before.
    complaint = in_progress()
    responses = fire_together(f"{base}/api/v1/complaints/{complaint['id']}/actions",
                              {"action": "assign", "assignee": "Whoever"}, headers)
    assert [response.status_code for response in responses] == [200] * CONCURRENT
    final = requests.get(f"{base}/api/v1/complaints/{complaint['id']}", headers=headers,
                         timeout=10).json()
    assert final["version"] == complaint["version"] + CONCURRENT
