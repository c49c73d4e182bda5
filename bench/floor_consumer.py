"""The floor of the ``apply`` path: consume and acknowledge COUNT messages from QUEUE, one by one
(prefetch 20), doing nothing else; then print ``time.monotonic()``
(the same clock in every process on Linux) and exit.

    python -m bench.floor_consumer AMQP_URL QUEUE COUNT
"""
from __future__ import annotations

import sys
import time


def main(argv: list[str]) -> int:
    from kombu import Connection, Consumer, Queue
    url, queue, count = argv[0], argv[1], int(argv[2])
    received = 0

    def on_message(message) -> None:  # raw: the body is not even decoded
        nonlocal received
        message.ack()
        received += 1

    with Connection(url) as connection:
        channel = connection.channel()
        channel.basic_qos(0, 20, False)
        source = Queue(queue, durable=True, no_declare=True)
        with Consumer(channel, [source], on_message=on_message):
            deadline = time.monotonic() + 600
            while received < count and time.monotonic() < deadline:
                try:
                    connection.drain_events(timeout=1)
                except TimeoutError:
                    pass
    print(time.monotonic(), flush=True)
    return 0 if received >= count else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
