"""The embedded default delivers webhooks: ``clientloop up`` as a user starts it, a webhook
registered over HTTP, and the documented receiver (``docs/examples/webhook_receiver.py``) on
loopback getting the event signed, exactly as recorded."""
from __future__ import annotations

import importlib.util
import threading
from pathlib import Path

import requests
from werkzeug.serving import make_server

from tests.e2e.harness import eventually, free_port
from tests.e2e.test_embedded_up import start, suites  # noqa: F401 - the fixture

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "webhook_receiver.py"


def receiver_app(secret: str):
    spec = importlib.util.spec_from_file_location("webhook_receiver_e2e", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    received: list[dict] = []
    module.handle = received.append
    return module.create_app(secret), received


def test_the_embedded_suite_delivers_a_signed_event_to_a_loopback_receiver(tmp_path, suites):  # noqa: F811
    suite = start(suites, tmp_path / "var", tmp_path, environment={
        "CLIENTLOOP_WEBHOOKS_ALLOW_PRIVATE": "1",
        "CLIENTLOOP_WEBHOOKS_ALLOW_HOSTS": "127.0.0.1"})
    port = free_port()
    hooks = f"{suite.url}/registry/api/v1/webhooks"
    created = requests.post(hooks, headers=suite.headers(), timeout=10, json={
        "url": f"http://127.0.0.1:{port}/clientloop", "event_types": ["client.registered"],
        "description": "e2e receiver"})
    assert created.status_code == 201, created.text
    endpoint = created.json()
    assert endpoint["secret"].startswith("whsec_")
    # another host than the allowed one is refused, naming the url
    refused = requests.post(hooks, headers=suite.headers(), timeout=10, json={
        "url": "http://10.0.0.1/hook", "event_types": ["client.registered"]})
    assert refused.status_code == 422 and "url" in refused.json()["errors"]

    app, received = receiver_app(endpoint["secret"])
    server = make_server("127.0.0.1", port, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        client = requests.post(f"{suite.url}/registry/api/v1/clients", headers=suite.headers(),
                               timeout=10, json={"name": "Webhook Client Ltd",
                                                 "kind": "external", "category": "enterprise"})
        assert client.status_code == 201, client.text
        assert eventually(lambda: len(received) == 1, timeout=30), suite.output()
        event = received[0]
        assert event["type"].endswith("client.registered.v1")
        assert event["subject"] == client.json()["id"]
        assert event["data"]["client"]["name"] == "Webhook Client Ltd"

        def delivered():
            log = requests.get(f"{hooks}/{endpoint['id']}/deliveries", headers=suite.headers(),
                               timeout=10).json()
            return [(item["event_id"], item["status"], item["last_status_code"])
                    for item in log["items"]] == [(event["id"], "delivered", 204)]
        assert eventually(delivered, timeout=30)
    finally:
        server.shutdown()
    assert suite.interrupt() == 0, suite.output()
