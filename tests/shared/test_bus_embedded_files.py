"""The embedded bus's message files: a consumer polling the queue folder never takes a message
whose file is still being written (Kombu's stock filesystem transport creates the file under
its final name, then writes it; a consumer polling in between read it empty, its worker
crashed on the JSON and the event was lost)."""
from __future__ import annotations

import builtins
from queue import Empty

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

