"""Inspect and re-deliver dead-lettered events (``clientloop dlq list|replay SERVICE``)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

from kombu import Producer

from shared.bus import topology
from shared.bus.consumer import ACCEPT, ATTEMPT_HEADER, ERROR_HEADER, NOT_BEFORE_HEADER
from shared.bus.envelope import SERIALIZER


@dataclass(frozen=True)
class DeadLetter:
    event_id: str | None
    event_type: str | None
    subject: str | None
    error: str | None
    body: Any


def _drain(channel, service: str, amqp: bool):
    queue = topology.dead_letter_queue(service, amqp)(channel)
    while True:
        message = queue.get(no_ack=False, accept=ACCEPT)
        if message is None:
            return
        yield message


def _describe(message) -> DeadLetter:
    try:
        body = message.decode() if message.body is not None else None
    except Exception:  # noqa: BLE001 - an undecodable dead letter is shown as its raw text
        raw = message.body
        body = raw.decode("utf-8", errors="replace") if isinstance(raw, (bytes, bytearray)) else raw
    headers = message.headers or {}
    envelope = body if isinstance(body, dict) else {}
    error = headers.get(ERROR_HEADER)
    if error is None and headers.get("x-death"):
        error = f"rejected after {headers.get(ATTEMPT_HEADER, 0)} retries"
    return DeadLetter(envelope.get("id"), envelope.get("type"), envelope.get("subject"), error, body)


def list_dead_letters(broker_url: str, service: str) -> list[DeadLetter]:
    """Everything on the service's DLQ; the messages stay there."""
    amqp = topology.is_amqp(broker_url)
    with topology.connection_for(broker_url) as connection:
        topology.declare(connection)
        channel = connection.channel()
        try:
            return [_describe(message) for message in _drain(channel, service, amqp)]
        finally:
            channel.close()  # unacknowledged messages go back to the queue


def replay(broker_url: str, service: str, event_ids: Iterable[str] = ()) -> list[str]:
    """Re-deliver dead letters (all, or those named) to ``<service>.events`` only."""
    wanted = set(event_ids)
    amqp = topology.is_amqp(broker_url)
    replayed: list[str] = []
    with topology.connection_for(broker_url) as connection:
        topology.declare(connection)
        channel = connection.channel()
        producer = Producer(connection.channel(), serializer=SERIALIZER)
        try:
            for message in _drain(channel, service, amqp):
                letter = _describe(message)
                if wanted and letter.event_id not in wanted:
                    continue
                headers = {k: v for k, v in (message.headers or {}).items()
                           if k not in (ATTEMPT_HEADER, NOT_BEFORE_HEADER, ERROR_HEADER, "x-death",
                                        "x-first-death-exchange", "x-first-death-queue",
                                        "x-first-death-reason", "x-last-death-exchange",
                                        "x-last-death-queue", "x-last-death-reason",
                                        "x-delivery-count")}
                body = letter.body if letter.body is not None else message.body
                producer.publish(body, exchange="", routing_key=topology.queue_name(service),
                                 headers=headers, delivery_mode=2, declare=[], retry=True)
                message.ack()
                replayed.append(letter.event_id or "?")
        finally:
            channel.close()
    return replayed
