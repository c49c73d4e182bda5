"""Signing webhook deliveries the Standard Webhooks way (``standardwebhooks`` verifies them).

Each endpoint has a secret ``whsec_<base64 of 24 random bytes>``. A delivery carries
``webhook-id`` (the event id, the same on every attempt), ``webhook-timestamp`` (unix seconds of
the attempt) and ``webhook-signature``: ``v1,<base64 HMAC-SHA256 of "id.timestamp.body">`` keyed
with the secret's decoded bytes.
"""
from __future__ import annotations

import base64
import secrets
from datetime import datetime, timezone
from math import floor

from standardwebhooks import Webhook, WebhookVerificationError

__all__ = ["new_secret", "signed_headers", "verify", "WebhookVerificationError"]

SECRET_PREFIX = "whsec_"


def new_secret() -> str:
    """A new endpoint secret: ``whsec_`` and the base64 of 24 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode("ascii")


def signed_headers(secret: str, msg_id: str, timestamp: datetime, body: str | bytes) -> dict[str, str]:
    """The headers of one delivery attempt of ``body`` made at ``timestamp`` (naive = UTC)."""
    text = body.decode("utf-8") if isinstance(body, bytes) else body
    # The library reads any datetime as UTC wall time, so hand it UTC.
    moment = (timestamp.replace(tzinfo=timezone.utc) if timestamp.tzinfo is None
              else timestamp.astimezone(timezone.utc))
    return {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(floor(moment.timestamp())),
        "webhook-signature": Webhook(secret).sign(msg_id, moment, text),
    }


def verify(secret: str, headers, body: str | bytes) -> dict:
    """The JSON body of a delivery whose headers are signed with ``secret`` (timestamp within
    five minutes of now), or :class:`WebhookVerificationError` — what a receiver does."""
    return Webhook(secret).verify(body, dict(headers))
