"""``docs/examples/webhook_receiver.py`` accepts what ClientLoop signs and refuses anything else."""
from __future__ import annotations

import importlib.util
import json
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from shared.bus.envelope import build_envelope
from shared.webhooks.policy import WebhookPolicy
from shared.webhooks.sender import send
from shared.webhooks.signing import new_secret, signed_headers

EXAMPLE = Path(__file__).resolve().parents[3] / "docs" / "examples" / "webhook_receiver.py"


@pytest.fixture
def receiver(monkeypatch):
    spec = importlib.util.spec_from_file_location("webhook_receiver", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    handled: list[dict] = []
    monkeypatch.setattr(module, "handle", handled.append)
    secret = new_secret()
    return module.create_app(secret), secret, handled


def event_body() -> str:
    envelope = build_envelope(service="complaints", event_type="complaint.opened", subject="c-1",
                              data={"complaint_id": "c-1"}, time=datetime.now(timezone.utc),
                              sequence=3)
    return json.dumps(envelope, ensure_ascii=False, separators=(",", ":"))


def post(app, body: str, headers: dict):
    return app.test_client().post("/clientloop", data=body.encode(), headers=headers)


def test_a_signed_delivery_is_accepted_once_with_204(receiver):
    app, secret, handled = receiver
    body = event_body()
    event_id = json.loads(body)["id"]
    headers = signed_headers(secret, event_id, datetime.now(timezone.utc), body)
    response = post(app, body, headers)
    assert response.status_code == 204
    assert [event["id"] for event in handled] == [event_id]
    assert post(app, body, headers).status_code == 204      # delivered again: handled once
    assert len(handled) == 1


@pytest.mark.parametrize("spoil", ["wrong secret", "tampered body", "stale", "no signature",
                                   "garbled signature"])
def test_a_bad_signature_is_refused_with_400(receiver, spoil):
    app, secret, handled = receiver
    body = event_body()
    event_id = json.loads(body)["id"]
    moment = datetime.now(timezone.utc) - (timedelta(minutes=10) if spoil == "stale" else timedelta())
    headers = signed_headers(new_secret() if spoil == "wrong secret" else secret, event_id, moment, body)
    if spoil == "tampered body":
        body = body.replace('"c-1"', '"c-2"')
    if spoil == "no signature":
        del headers["webhook-signature"]
    if spoil == "garbled signature":
        headers["webhook-signature"] = "garbage"
    response = post(app, body, headers)
    assert response.status_code == 400 and handled == []


def test_a_real_delivery_over_http_is_verified(receiver):
    """What the dispatcher's sender sends (pinned address, signed headers) passes the example."""
    app, secret, handled = receiver
    server = make_server("127.0.0.1", 0, app)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        body = event_body()
        event_id = json.loads(body)["id"]
        headers = signed_headers(secret, event_id, datetime.now(timezone.utc), body)
        policy = WebhookPolicy(allow_private=True, allow_hosts=("127.0.0.1",))
        url = f"http://127.0.0.1:{server.server_port}/clientloop"
        outcome = send(policy, url, body.encode(), headers, timeout=5)
        assert outcome.status_code == 204 and outcome.delivered
        assert [event["id"] for event in handled] == [event_id]
        wrong = signed_headers(new_secret(), event_id, datetime.now(timezone.utc), body)
        assert send(policy, url, body.encode(), wrong, timeout=5).status_code == 400
    finally:
        server.shutdown()
        thread.join(5)
