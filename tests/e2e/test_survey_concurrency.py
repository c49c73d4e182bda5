"""Exactly once in production shape: 20 simultaneous submits of one link through a multi-worker
gunicorn on PostgreSQL store one response and publish one feedback event."""
from __future__ import annotations

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
import requests

from tests.conftest import make_token
from tests.e2e.harness import ProcessSuite, eventually
from tests.survey.survey_bus import publish, registered
from tests.survey.survey_support import FULL_ANSWERS, survey_fields, token_of

SUBMITS = 20


@pytest.fixture
def suite(tmp_path, rabbitmq_url, postgres_urls):
    suite = ProcessSuite(tmp_path, broker_url=rabbitmq_url, database_urls=postgres_urls,
                         extra_env={"CLIENTLOOP_RATELIMIT_PUBLIC": "1000 per minute"})
    yield suite
    suite.stop()


def test_twenty_simultaneous_submits_of_one_link_store_exactly_one_response(
        suite, settings, rabbitmq_url, postgres_urls):
    url = suite.start("survey", workers=4)
    staff = {"Authorization": f"Bearer {make_token(settings, 'staff')}"}
    survey = requests.post(f"{url}/api/v1/surveys", headers=staff, json=survey_fields(), timeout=10).json()
    assert requests.post(f"{url}/api/v1/surveys/{survey['id']}/publish", headers=staff,
                         timeout=10).status_code == 200
    client_id = str(uuid.uuid4())
    publish(rabbitmq_url, service="registry", event_type="client.registered", subject=client_id,
            data=registered(client_id))

    def invite():
        response = requests.post(f"{url}/api/v1/surveys/{survey['id']}/invitations", headers=staff,
                                 json={"client_id": client_id}, timeout=10)
        return response if response.status_code == 201 else None

    created = eventually(invite, timeout=15, interval=0.2)
    assert created, suite.logs("survey")
    token = token_of(created.json()["items"][0]["url"])

    start = threading.Barrier(SUBMITS)

    def submit(_):
        start.wait()
        return requests.post(f"{url}/api/v1/public/responses",
                             json={"token": token, "answers": FULL_ANSWERS}, timeout=30)

    started = time.monotonic()
    with ThreadPoolExecutor(SUBMITS) as pool:
        answers = list(pool.map(submit, range(SUBMITS)))
    print(f"{SUBMITS} simultaneous submits answered in {time.monotonic() - started:.3f} s")
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [201] + [410] * (SUBMITS - 1), [a.text for a in answers if a.status_code not in (201, 410)]
    assert all(answer.json()["reason"] == "answered" for answer in answers if answer.status_code == 410)

    with psycopg.connect(postgres_urls["survey"]) as connection:
        responses = connection.execute("SELECT count(*) FROM survey_response").fetchone()[0]
        events = connection.execute(
            "SELECT count(*) FROM outbox WHERE event_type = 'survey.response.submitted'").fetchone()[0]
        answered = connection.execute("SELECT answered_at IS NOT NULL FROM invitation").fetchone()[0]
    assert (responses, events, answered) == (1, 1, True)
    listed = requests.get(f"{url}/api/v1/surveys/{survey['id']}/responses", headers=staff, timeout=10).json()
    assert listed["total"] == 1
