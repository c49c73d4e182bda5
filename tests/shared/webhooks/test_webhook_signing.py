"""Webhook signatures verify with the ``standardwebhooks`` library a receiver would use."""
from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta, timezone

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from shared.webhooks.signing import new_secret, signed_headers, verify

BODY = json.dumps({"specversion": "1.0", "id": "evt-1", "type": "complaint.opened",
                   "data": {"title": "Café closed — früh"}}, ensure_ascii=False)


def now() -> datetime:
    return datetime.now(timezone.utc)


def test_secret_is_whsec_and_base64_of_24_random_bytes():
    secret = new_secret()
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"), validate=True)) == 24
    assert new_secret() != secret


def test_signed_headers_verify_with_the_standard_webhooks_library():
    secret = new_secret()
    moment = now()
    headers = signed_headers(secret, "evt-1", moment, BODY)
    assert headers["content-type"] == "application/json"
    assert headers["webhook-id"] == "evt-1"
    assert headers["webhook-timestamp"] == str(int(moment.timestamp()))
    assert headers["webhook-signature"].startswith("v1,")
    assert Webhook(secret).verify(BODY.encode("utf-8"), headers) == json.loads(BODY)
    assert verify(secret, headers, BODY.encode("utf-8")) == json.loads(BODY)


def test_a_timestamp_in_another_time_zone_signs_the_same_instant():
    secret = new_secret()
    moment = now().astimezone(timezone(timedelta(hours=2)))
    headers = signed_headers(secret, "evt-1", moment, BODY)
    assert headers["webhook-timestamp"] == str(int(moment.timestamp()))
    Webhook(secret).verify(BODY, headers)


def test_a_wrong_secret_fails_verification():
    headers = signed_headers(new_secret(), "evt-1", now(), BODY)
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(BODY, headers)


@pytest.mark.parametrize("tamper", ["body", "id", "timestamp"])
def test_a_changed_body_id_or_timestamp_fails_verification(tamper):
    secret = new_secret()
    moment = now()
    headers = signed_headers(secret, "evt-1", moment, BODY)
    body = BODY
    if tamper == "body":
        body = BODY.replace("opened", "closed")
    elif tamper == "id":
        headers["webhook-id"] = "evt-2"
    else:
        headers["webhook-timestamp"] = str(int(moment.timestamp()) - 1)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body, headers)
