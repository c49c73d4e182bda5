#!/usr/bin/env python3
"""Example outside-system subscriber to ClientLoop's events, written with pika.

ClientLoop publishes every event to the durable topic exchange ``clientloop.events`` with the
event type as routing key and a CloudEvents 1.0 structured-mode JSON body. Any AMQP 0-9-1
client works; this example uses pika rather than the project's own Kombu to show that.

It declares *its own* durable queue (never one of the services' queues), binds it with the
patterns given, prints each event and acknowledges it after printing::

    python examples/subscriber.py --url amqp://guest:guest@127.0.0.1:5672/ \\
        --queue my-system.clientloop --bind 'client.#' --bind 'complaint.*' --count 10 --validate

Output: one line per event (type, subject, sequence, id), then its ``data`` as JSON.
``--validate`` checks the envelope and ``data`` against the JSON Schemas in ``docs/events``
when ``jsonschema`` is installed; an invalid event is reported on stderr (and still
acknowledged: this is a diagnostic tool) and the exit status is 1.

Needs only ``pika`` (and optionally ``jsonschema``); it does not import the project.
"""
from __future__ import annotations

import argparse
import json
import re
import signal
import sys
from pathlib import Path
from typing import Any, Iterable

import pika

EXCHANGE = "clientloop.events"
CE_TYPE = re.compile(r"^clientloop\.(?P<name>[a-z_.]+)\.v1$")
REQUIRED_ATTRIBUTES = ("specversion", "id", "source", "type", "subject", "time",
                       "datacontenttype", "data", "sequence")
DEFAULT_SCHEMA_DIR = Path(__file__).resolve().parents[1] / "docs" / "events"


class NotACloudEvent(ValueError):
    """The message body is not a structured-mode CloudEvent this subscriber understands."""


def parse_event(body: bytes) -> dict[str, Any]:
    """Decode a structured-mode CloudEvent (JSON, UTF-8) and check its required attributes."""
    try:
        event = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise NotACloudEvent(f"body is not UTF-8 JSON: {error}") from None
    if not isinstance(event, dict):
        raise NotACloudEvent("body is not a JSON object")
    missing = [name for name in REQUIRED_ATTRIBUTES if name not in event]
    if missing:
        raise NotACloudEvent(f"missing CloudEvents attributes: {', '.join(missing)}")
    if event["specversion"] != "1.0":
        raise NotACloudEvent(f"unsupported specversion {event['specversion']!r}")
    if not isinstance(event["data"], dict):
        raise NotACloudEvent("data is not a JSON object")
    return event


def event_name(event: dict[str, Any]) -> str | None:
    """The event type (routing key form) of a ClientLoop v1 event, or None."""
    match = CE_TYPE.match(str(event.get("type", "")))
    return match.group("name") if match else None


def bind_queue(channel: Any, queue: str, patterns: Iterable[str], quorum: bool = False,
               exchange: str = EXCHANGE) -> None:
    """Declare our durable queue and bind it to the events exchange with each pattern.

    The exchange is declared passively: it belongs to ClientLoop and must not be redefined
    (a declaration with other arguments would be refused, or worse, change nothing visibly).
    """
    channel.exchange_declare(exchange=exchange, passive=True)
    arguments = {"x-queue-type": "quorum"} if quorum else None
    channel.queue_declare(queue=queue, durable=True, arguments=arguments)
    for pattern in patterns:
        channel.queue_bind(queue=queue, exchange=exchange, routing_key=pattern)


def format_event(event: dict[str, Any]) -> str:
    """The header line and the data as JSON, as printed for each event."""
    header = (f"{event['type']} subject={event['subject']} "
              f"sequence={event['sequence']} id={event['id']}")
    data = json.dumps(event["data"], ensure_ascii=False, sort_keys=True)
    return f"{header}\n{data}"


class SchemaValidator:
    """Checks events against docs/events/*.schema.json with jsonschema (if importable)."""

    def __init__(self, schema_dir: Path) -> None:
        import jsonschema

        self._jsonschema = jsonschema
        self._schema_dir = schema_dir
        self._validators: dict[str, Any] = {}

    def _validator(self, file_name: str) -> Any | None:
        if file_name not in self._validators:
            path = self._schema_dir / file_name
            if not path.exists():
                self._validators[file_name] = None
            else:
                schema = json.loads(path.read_text(encoding="utf-8"))
                self._validators[file_name] = self._jsonschema.Draft202012Validator(
                    schema, format_checker=self._jsonschema.FormatChecker())
        return self._validators[file_name]

    def problems(self, event: dict[str, Any]) -> list[str]:
        """Messages describing what is wrong with the event; empty when it is valid."""
        found = []
        envelope = self._validator("cloudevent.schema.json")
        if envelope is not None:
            found += [f"envelope: {_where(error)}{error.message}"
                      for error in envelope.iter_errors(event)]
        name = event_name(event)
        data_validator = self._validator(f"{name}.schema.json") if name else None
        if data_validator is None:
            found.append(f"no schema for type {event.get('type')!r} in {self._schema_dir}")
        else:
            found += [f"data: {_where(error)}{error.message}"
                      for error in data_validator.iter_errors(event["data"])]
        return found


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt  # SIGTERM stops like Ctrl-C


def _install_sigterm(handler: Any) -> Any:
    """Install a SIGTERM handler and return the previous one (None off the main thread)."""
    if handler is None:
        return None
    try:
        return signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread: leave signals alone
        return None


def _where(error: Any) -> str:
    path = ".".join(str(part) for part in error.absolute_path)
    return f"{path}: " if path else ""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Print ClientLoop events from your own queue.")
    parser.add_argument("--url", default="amqp://guest:guest@127.0.0.1:5672/",
                        help="AMQP URL of the RabbitMQ the suite publishes to")
    parser.add_argument("--queue", default="my-system.clientloop",
                        help="your own queue's name (durable; created if missing)")
    parser.add_argument("--bind", action="append", dest="patterns", metavar="PATTERN",
                        help="routing-key pattern, e.g. 'client.#' or 'complaint.*' "
                             "(repeatable; default '#': every event)")
    parser.add_argument("--quorum", action="store_true",
                        help="declare the queue as a quorum queue (only when creating it)")
    parser.add_argument("--count", type=int, default=0,
                        help="exit after this many events (default: run until Ctrl-C)")
    parser.add_argument("--validate", action="store_true",
                        help="check each event against docs/events/*.schema.json")
    parser.add_argument("--schemas", type=Path, default=DEFAULT_SCHEMA_DIR,
                        help="folder of the JSON Schemas (default: this checkout's docs/events)")
    parser.add_argument("--exchange", default=EXCHANGE, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.patterns = args.patterns or ["#"]
    if args.count < 0:
        parser.error("--count must be 0 or more")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    validator = None
    if args.validate:
        try:
            validator = SchemaValidator(args.schemas)
        except ImportError:
            print("jsonschema is not installed: events are not validated.", file=sys.stderr)

    try:
        connection = pika.BlockingConnection(pika.URLParameters(args.url))
    except pika.exceptions.AMQPError as error:
        print(f"Cannot connect to {args.url}: {error!r}", file=sys.stderr)
        return 2
    channel = connection.channel()
    try:
        bind_queue(channel, args.queue, args.patterns, args.quorum, exchange=args.exchange)
    except pika.exceptions.ChannelClosedByBroker as error:
        print(f"Cannot bind {args.queue!r} to {args.exchange!r}: {error.reply_text} "
              "(has the suite run against this broker yet?)", file=sys.stderr)
        connection.close()
        return 2
    channel.basic_qos(prefetch_count=max(1, min(args.count or 50, 50)))

    state = {"received": 0, "invalid": 0}

    def on_message(ch: Any, method: Any, properties: Any, body: bytes) -> None:
        try:
            event = parse_event(body)
        except NotACloudEvent as error:
            print(f"skipped message {method.routing_key!r} "
                  f"(content type {properties.content_type!r}): {error}", file=sys.stderr)
            state["invalid"] += 1
        else:
            print(format_event(event), flush=True)
            for problem in validator.problems(event) if validator else ():
                print(f"INVALID {event['id']}: {problem}", file=sys.stderr)
                state["invalid"] += 1
        ch.basic_ack(delivery_tag=method.delivery_tag)
        state["received"] += 1
        if args.count and state["received"] >= args.count:
            ch.stop_consuming()

    channel.basic_consume(queue=args.queue, on_message_callback=on_message)
    previous_sigterm = _install_sigterm(_interrupt)
    print(f"Waiting for events on {args.queue!r} ({', '.join(args.patterns)}); "
          "Ctrl-C to stop.", file=sys.stderr)
    try:
        channel.start_consuming()
    except KeyboardInterrupt:
        pass  # unacknowledged messages go back to the queue when the connection closes
    finally:
        _install_sigterm(previous_sigterm)
        if connection.is_open:
            try:
                connection.close()
            except pika.exceptions.AMQPError:
                pass
    return 1 if state["invalid"] else 0


if __name__ == "__main__":
    sys.exit(main())
