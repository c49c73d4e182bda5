"""The embedded bus's message files: a consumer polling the queue folder never takes a message
whose file is still being written (Kombu's stock filesystem transport creates the file under
its final name, then writes it; a consumer polling in between read it empty, its worker
crashed on the JSON and the event was lost)."""
from __future__ import annotations

import builtins
import shutil
from queue import Empty

import pytest
from kombu.exceptions import ChannelError

from shared.bus import topology

QUEUE = "complaints.events"


def test_a_message_file_is_taken_only_once_it_is_written_whole(tmp_path, monkeypatch):
    broker = f"filesystem://{tmp_path / 'bus'}"
    with topology.connection_for(broker) as publisher, topology.connection_for(broker) as consumer:
        writer, reader = publisher.default_channel, consumer.default_channel
        seen_while_writing = []

        def peek() -> str:
            try:
                return f"took {reader._get(QUEUE)!r}"
            except Empty:
                return "nothing"
            except Exception as failed:  # noqa: BLE001 - what the consumer's worker died of
                return f"failed: {failed!r}"

        real_open = builtins.open

        class Watched:
            """A message file being written: the consumer polls before each write."""

            def __init__(self, handle):
                self.handle = handle

            def write(self, data):
                seen_while_writing.append(peek())
                return self.handle.write(data)

            def __getattr__(self, name):
                return getattr(self.handle, name)

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                return self.handle.__exit__(*exc)

        def watching_open(file, mode="r", *args, **kwargs):
            handle = real_open(file, mode, *args, **kwargs)
            return Watched(handle) if "w" in mode and ".msg" in str(file) else handle

        monkeypatch.setattr(builtins, "open", watching_open)
        writer._put(QUEUE, {"body": "whole", "properties": {}})
        monkeypatch.setattr(builtins, "open", real_open)

        assert seen_while_writing == ["nothing"]
        assert reader._get(QUEUE)["body"] == "whole"


def _taken(channel, queue=QUEUE) -> list:
    bodies = []
    while True:
        try:
            bodies.append(channel._get(queue)["body"])
        except Empty:
            return bodies


def test_messages_written_one_after_another_are_taken_in_that_order_even_within_a_millisecond(
        tmp_path, monkeypatch):
    """Every message written in the same millisecond: their order is the order written (the
    stock names order such ties at random, so publishers had to wait for the next millisecond
    between messages)."""
    monkeypatch.setattr(topology.time, "monotonic", lambda: 1234.5)
    broker = f"filesystem://{tmp_path / 'bus'}"
    with topology.connection_for(broker) as publisher, topology.connection_for(broker) as consumer:
        for number in range(300):
            publisher.default_channel._put(QUEUE, {"body": number, "properties": {}})
        assert _taken(consumer.default_channel) == list(range(300))


def test_the_order_holds_when_the_millisecond_count_gains_a_digit_and_for_stock_names(tmp_path):
    broker = f"filesystem://{tmp_path / 'bus'}"
    with topology.connection_for(broker) as consumer:
        folder = tmp_path / "bus" / "queue"
        for name, body in [("10000_000000000001_b", "third"), ("9999_000000000007_a", "first"),
                           ("10000_3f1c2a", "second"), ("10001_000000000000_c", "fourth")]:
            (folder / f"{name}.{QUEUE}.msg").write_text(
                topology.filesystem.dumps({"body": body, "properties": {}}))
        (folder / "1_000000000000_x.registry.events.msg").write_text("{}")  # another queue's
        assert _taken(consumer.default_channel) == ["first", "second", "third", "fourth"]
        assert [path.name for path in folder.iterdir()] == ["1_000000000000_x.registry.events.msg"]


def test_taking_messages_lists_the_folder_once_per_run_not_once_per_message(tmp_path, monkeypatch):
    """The stock transport listed and sorted the whole folder, every queue's messages, for each
    message it took: quadratic in the backlog."""
    broker = f"filesystem://{tmp_path / 'bus'}"
    with topology.connection_for(broker) as publisher, topology.connection_for(broker) as consumer:
        for number in range(200):
            publisher.default_channel._put(QUEUE, {"body": number, "properties": {}})
            publisher.default_channel._put("registry.events", {"body": number, "properties": {}})
        listings = []
        real_listdir = topology.os.listdir
        monkeypatch.setattr(topology.os, "listdir", lambda path: listings.append(path) or real_listdir(path))
        assert _taken(consumer.default_channel) == list(range(200))
        assert len(listings) <= 2          # one listing, and one more finding the queue empty
        publisher.default_channel._put(QUEUE, {"body": "later", "properties": {}})
        assert _taken(consumer.default_channel) == ["later"]


def test_two_consumers_of_one_queue_never_take_the_same_message(tmp_path):
    broker = f"filesystem://{tmp_path / 'bus'}"
    with topology.connection_for(broker) as publisher, topology.connection_for(broker) as first, \
            topology.connection_for(broker) as second:
        for number in range(100):
            publisher.default_channel._put(QUEUE, {"body": number, "properties": {}})
        one, other = first.default_channel, second.default_channel
        taken = [one._get(QUEUE)["body"], other._get(QUEUE)["body"]]  # both listed all 100
        taken += _taken(one) + _taken(other)
        assert sorted(taken) == list(range(100))


def test_a_missing_processed_folder_is_an_error_not_a_queue_that_seems_empty(tmp_path):
    broker = f"filesystem://{tmp_path / 'bus'}"
    with topology.connection_for(broker) as publisher, topology.connection_for(broker) as consumer:
        publisher.default_channel._put(QUEUE, {"body": "kept", "properties": {}})
        shutil.rmtree(tmp_path / "bus" / "processed")
        with pytest.raises(ChannelError):
            consumer.default_channel._get(QUEUE)
        (tmp_path / "bus" / "processed").mkdir()
        assert _taken(consumer.default_channel) == ["kept"]


def _publish(connection, routing_key: str, body: str) -> None:
    from kombu import Producer
    Producer(connection.default_channel, exchange=topology.events_exchange(False),
             serializer="json").publish(body, routing_key=routing_key, declare=[], retry=False)


def _published(channel, queue) -> list:
    """The bodies of the messages a producer published to ``queue`` (encoded in the file)."""
    import base64
    import json
    return [json.loads(base64.b64decode(body)) for body in _taken(channel, queue)]


def test_publishing_reads_the_exchange_table_once_while_it_is_unchanged(tmp_path, monkeypatch):
    """The stock transport opened, locked and parsed the exchange's table file for every
    message published."""
    broker = f"filesystem://{tmp_path / 'bus'}"
    with topology.connection_for(broker) as publisher, topology.connection_for(broker) as consumer:
        topology.declare(publisher)
        reads = []
        real = topology.filesystem.Channel.get_table
        monkeypatch.setattr(topology.filesystem.Channel, "get_table",
                            lambda self, exchange: reads.append(exchange) or real(self, exchange))
        for number in range(50):
            _publish(publisher, "client.value.changed", f"value {number}")
            _publish(publisher, "survey.response.submitted", f"response {number}")
        assert reads == [topology.EXCHANGE_NAME] * 2   # once per routing key
        channel = consumer.default_channel
        expected = [f"value {number}" for number in range(50)]
        assert _published(channel, "survey.events") == expected
        assert _published(channel, "complaints.events") == expected
        assert _published(channel, "registry.events") == [f"response {number}" for number in range(50)]


def test_a_binding_another_connection_declares_routes_the_next_message(tmp_path):
    """Another process (here another connection) binds a queue after messages were routed:
    the next message reaches it too."""
    from kombu import Queue
    broker = f"filesystem://{tmp_path / 'bus'}"
    with topology.connection_for(broker) as publisher, topology.connection_for(broker) as other, \
            topology.connection_for(broker) as consumer:
        topology.declare(publisher)
        _publish(publisher, "complaint.opened", "before")
        exchange = topology.events_exchange(False)
        Queue("audit.events", exchange, routing_key="complaint.opened")(other.default_channel).declare()
        _publish(publisher, "complaint.opened", "after")
        channel = consumer.default_channel
        assert _published(channel, "registry.events") == ["before", "after"]
        assert _published(channel, "audit.events") == ["after"]
