"""CloudEvents 1.0 structured JSON envelope with the ``sequence`` extension."""
from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Mapping

from kombu.serialization import register

from shared.clock import isoformat_z, parse_timestamp

CONTENT_TYPE = "application/cloudevents+json"
SERIALIZER = "cloudevents"
SEQUENCE_DIGITS = 20


def _dumps(body: Any) -> str:
    if isinstance(body, (bytes, str)):
        return body if isinstance(body, str) else body.decode("utf-8", errors="replace")
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"))


def _loads(body: bytes | str) -> Any:
    return json.loads(body)


def register_serializer() -> None:
    """Kombu must know ``application/cloudevents+json`` to publish and accept it."""
    register(SERIALIZER, _dumps, _loads, content_type=CONTENT_TYPE, content_encoding="utf-8")


register_serializer()


def ce_type(event_type: str) -> str:
    return f"clientloop.{event_type}.v1"


def event_type_of(ce_type_name: str) -> str:
    if not (ce_type_name.startswith("clientloop.") and ce_type_name.endswith(".v1")):
        raise ValueError(f"not a ClientLoop event type: {ce_type_name!r}")
    return ce_type_name[len("clientloop."):-len(".v1")]


def format_sequence(value: int) -> str:
    return str(value).zfill(SEQUENCE_DIGITS)


def build_envelope(*, service: str, event_type: str, subject: str, data: Mapping[str, Any],
                   time: datetime, sequence: int, event_id: str | None = None) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": event_id or str(uuid.uuid4()),
        "source": f"clientloop/{service}",
        "type": ce_type(event_type),
        "subject": str(subject),
        "time": isoformat_z(time),
        "datacontenttype": "application/json",
        "sequence": format_sequence(sequence),
        "data": dict(data),
    }


@dataclass(frozen=True)
class Event:
    """A received event, as handlers see it."""

    id: str
    type: str            # the event type, e.g. ``complaint.opened``
    source: str
    subject: str
    time: datetime
    sequence: str | None
    data: dict[str, Any]

    @classmethod
    def from_envelope(cls, envelope: Mapping[str, Any]) -> "Event":
        try:
            if envelope.get("specversion") != "1.0":
                raise ValueError("specversion must be 1.0")
            data = envelope.get("data")
            if not isinstance(data, dict):
                raise ValueError("data must be an object")
            return cls(
                id=str(envelope["id"]),
                type=event_type_of(str(envelope["type"])),
                source=str(envelope["source"]),
                subject=str(envelope.get("subject", "")),
                time=parse_timestamp(str(envelope["time"])),
                sequence=envelope.get("sequence"),
                data=data,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise MalformedEvent(str(exc)) from exc


class MalformedEvent(ValueError):
    """A message on the bus that is not a ClientLoop CloudEvent."""
