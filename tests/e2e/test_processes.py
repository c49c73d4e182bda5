"""The production shape: registry under gunicorn with its relay, on PostgreSQL and RabbitMQ."""
from __future__ import annotations

import re

import pytest
import requests

from tests.conftest import make_token
from tests.e2e.harness import ProcessSuite


@pytest.fixture
def suite(tmp_path, rabbitmq_url, postgres_urls):
    suite = ProcessSuite(tmp_path, broker_url=rabbitmq_url, database_urls=postgres_urls)
    yield suite
    suite.stop()


def test_registry_serves_its_api_under_gunicorn_and_is_ready(suite, settings):
    url = suite.start("registry")
    token = make_token(settings, "staff")
    ready = requests.get(f"{url}/readyz?verbose", timeout=5)
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"] == {"database": "ok", "broker": "ok"}
    created = requests.post(f"{url}/api/v1/clients", headers={"Authorization": f"Bearer {token}"},
                            json={"name": "华为 Huawei", "kind": "external", "category": "enterprise"}, timeout=5)
    assert created.status_code == 201, created.text
    metrics = requests.get(f"{url}/metrics", timeout=5)
    assert "clientloop_http_requests_total" in metrics.text
    # The event backlog, read from the database and merged across the workers (NaN >= 0 fails).
    unsent = re.search(r'^clientloop_outbox_unsent\{service="registry"\} (\S+)$', metrics.text,
                       re.MULTILINE)
    assert unsent and float(unsent.group(1)) >= 0, metrics.text[-2000:]
