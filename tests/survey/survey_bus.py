"""Publishing events to ``clientloop.events`` from a test, as another service would."""
from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Any

from kombu import Producer

from shared.bus import topology
from shared.bus.envelope import SERIALIZER, build_envelope


def publish(broker_url: str, *, service: str, event_type: str, subject: str,
            data: dict[str, Any], sequence: int = 1) -> dict[str, Any]:
    envelope = build_envelope(service=service, event_type=event_type, subject=subject, data=data,
                              time=datetime.now(timezone.utc), sequence=sequence,
                              event_id=str(uuid.uuid4()))
    with topology.connection_for(broker_url) as connection:
        topology.declare(connection)
        producer = Producer(connection.channel(),
                            exchange=topology.events_exchange(topology.is_amqp(broker_url)),
                            serializer=SERIALIZER)
        producer.publish(envelope, routing_key=event_type, delivery_mode=2,
                         message_id=envelope["id"], declare=[], retry=True)
    return envelope


def registered(client_id: str, *, name: str = "Acme 华为", language: str = "en",
               kind: str = "external", category: str = "enterprise") -> dict[str, Any]:
    return {"client": {"id": client_id, "name": name, "kind": kind, "category": category,
                       "tier": "B", "tags": [], "owner": None, "preferred_language": language,
                       "contacts": [], "status": "active"}}
