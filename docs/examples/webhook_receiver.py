"""A webhook receiver for ClientLoop deliveries: a small Flask app that checks each signature.

ClientLoop POSTs each event (its CloudEvent JSON) signed as Standard Webhooks: ``webhook-id`` (the
event id, the same on every attempt), ``webhook-timestamp`` and ``webhook-signature``. This app
verifies them with the ``standardwebhooks`` library against the endpoint's secret, refuses a
bad or stale signature with 400, skips an event it has already handled (deliveries are at least
once) and answers 204 — any 2xx tells ClientLoop the delivery is done.

    pip install flask standardwebhooks==1.1.0
    WEBHOOK_SECRET=whsec_… flask --app webhook_receiver run --port 8080

It imports nothing from ClientLoop: copy it and replace :func:`handle`.
"""
from __future__ import annotations

import json
import logging
import os

from flask import Flask, request
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

log = logging.getLogger("webhook_receiver")


def handle(event: dict) -> None:
    """Your work: one event, its ``type`` (``clientloop.complaint.opened.v1``) and ``data``."""
    log.info("event %s %s subject=%s", event["type"], event["id"], event.get("subject"))


def create_app(secret: str | None = None) -> Flask:
    app = Flask(__name__)
    webhook = Webhook(secret or os.environ["WEBHOOK_SECRET"])
    seen: set[str] = set()   # use a table in your database: ids outlive a restart

    @app.post("/clientloop")
    def receive():
        body = request.get_data(as_text=True)   # the exact bytes sent: sign-checked as they are
        try:
            event = webhook.verify(body, dict(request.headers))
        except WebhookVerificationError as refused:
            return {"error": f"bad signature: {refused}"}, 400
        except (ValueError, json.JSONDecodeError):
            return {"error": "malformed signature or body"}, 400
        event_id = request.headers["webhook-id"]
        if event_id not in seen:             # the same event may come twice: handle it once
            handle(event)
            seen.add(event_id)
        return "", 204

    return app


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    create_app().run(port=int(os.environ.get("PORT", "8080")))
