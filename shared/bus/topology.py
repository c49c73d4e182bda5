"""The whole bus topology, declared from this one module.

* ``clientloop.events``: durable topic exchange; routing key = event type. Its alternate
  exchange ``clientloop.unrouted`` (fanout) keeps, in the bounded queue of the same name, every
  event no service subscribes to yet.
* ``<service>.events``: each consuming service's durable queue (quorum on RabbitMQ), bound to
  the event types it handles, dead-lettering at least once to ``<service>.events.dlq``.
* ``<service>.events.retry``: per-message TTL; expired messages dead-letter back to
  ``<service>.events`` through the default exchange, so no other subscriber sees a retry.

Kombu's filesystem transport keeps exchanges and bindings in each process's memory and drops
messages for exchanges it has not declared, so every process declares the whole topology.
"""
from __future__ import annotations

import collections
import fcntl
import itertools
import os
import threading
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from queue import Empty

from kombu import Connection, Exchange, Queue, binding
from kombu.exceptions import ChannelError
from kombu.transport import filesystem, virtual
from kombu.utils.encoding import bytes_to_str, str_to_bytes

EXCHANGE_NAME = "clientloop.events"
UNROUTED_NAME = "clientloop.unrouted"
UNROUTED_MAX_LENGTH = 100_000
QUEUE_MAX_LENGTH = 1_000_000

#: Which event types each consuming service handles. The routing key is the event type.
SUBSCRIPTIONS: dict[str, tuple[str, ...]] = {
    "registry": (
        "survey.response.submitted",
        "complaint.opened",
        "complaint.resolved",
        "complaint.reopened",
        "complaint.reclassified",
    ),
    "survey": (
        "client.registered",
        "client.updated",
        "client.value.changed",
        "client.archived",
        "client.erased",
        "complaint.resolved",
    ),
    "complaints": (
        "client.registered",
        "client.updated",
        "client.value.changed",
        "client.archived",
        "client.erased",
    ),
}


def is_amqp(url: str) -> bool:
    return url.startswith(("amqp://", "amqps://", "pyamqp://"))


def events_exchange(amqp: bool) -> Exchange:
    arguments = {"alternate-exchange": UNROUTED_NAME} if amqp else None
    return Exchange(EXCHANGE_NAME, type="topic", durable=True, arguments=arguments)


def unrouted_exchange() -> Exchange:
    return Exchange(UNROUTED_NAME, type="fanout", durable=True)


def unrouted_queue(amqp: bool) -> Queue:
    arguments = {"x-max-length": UNROUTED_MAX_LENGTH} if amqp else None
    return Queue(UNROUTED_NAME, exchange=unrouted_exchange(), routing_key="", durable=True,
                 queue_arguments=arguments)


def queue_name(service: str) -> str:
    return f"{service}.events"


def retry_queue_name(service: str) -> str:
    return f"{service}.events.retry"


def dlq_name(service: str) -> str:
    return f"{service}.events.dlq"


def queue_state(connection: Connection, queue: str):
    """The queue's passive declaration answer (its ``message_count`` and ``consumer_count``) on a
    channel of its own, so nothing is created; ``None`` when the broker has no such queue (it
    then closes the channel). Any other failure is raised."""
    channel = connection.channel()
    try:
        return channel.queue_declare(queue=queue, passive=True)
    except Exception as exc:  # noqa: BLE001 - amqp's NotFound closes the channel
        if "NOT_FOUND" in str(exc) or "404" in str(exc):
            return None
        raise
    finally:
        try:
            channel.close()
        except Exception:  # noqa: BLE001 - already closed by the broker
            pass


def service_queue(service: str, amqp: bool) -> Queue:
    exchange = events_exchange(amqp)
    arguments = None
    if amqp:
        arguments = {
            "x-queue-type": "quorum",
            "x-dead-letter-exchange": "",
            "x-dead-letter-routing-key": dlq_name(service),
            "x-dead-letter-strategy": "at-least-once",
            "x-overflow": "reject-publish",
            "x-max-length": QUEUE_MAX_LENGTH,
        }
    bindings = [binding(exchange, routing_key=key) for key in SUBSCRIPTIONS[service]]
    return Queue(queue_name(service), bindings=bindings, durable=True, queue_arguments=arguments)


def retry_queue(service: str, amqp: bool) -> Queue:
    arguments = None
    if amqp:
        arguments = {
            "x-dead-letter-exchange": "",
            "x-dead-letter-routing-key": queue_name(service),
        }
    return Queue(retry_queue_name(service), exchange=Exchange(""), routing_key=retry_queue_name(service),
                 durable=True, queue_arguments=arguments, no_declare=False)


def dead_letter_queue(service: str, amqp: bool) -> Queue:
    arguments = {"x-queue-type": "quorum"} if amqp else None
    return Queue(dlq_name(service), exchange=Exchange(""), routing_key=dlq_name(service),
                 durable=True, queue_arguments=arguments)


def declare(connection: Connection, services: tuple[str, ...] = tuple(SUBSCRIPTIONS)) -> None:
    """Declare exchanges and the queues of ``services`` (all of them by default)."""
    amqp = is_amqp(connection.as_uri())
    if amqp:
        _declare(connection.default_channel, services, amqp)
        return
    with _folder_lock(connection):
        _declare(connection.default_channel, services, amqp)


def _declare(channel, services: tuple[str, ...], amqp: bool) -> None:
    if amqp:
        unrouted_exchange()(channel).declare()
        unrouted_queue(amqp)(channel).declare()
    events_exchange(amqp)(channel).declare()
    for service in services:
        service_queue(service, amqp)(channel).declare()
        retry_queue(service, amqp)(channel).declare()
        dead_letter_queue(service, amqp)(channel).declare()


_declare_threads = threading.Lock()


@contextmanager
def _folder_lock(connection: Connection):
    """One declaration at a time per bus folder, across threads and processes.

    The filesystem transport writes its exchange table (``control/<exchange>.exchange``) with a
    read-modify-write that is not safe when two declarers create the file at once: one can
    truncate the other's bindings, and a reader can see half a table. Declarations are rare
    (at start), so they simply take turns.
    """
    folder = Path(connection.transport_options.get("control_folder", "control"))
    folder.mkdir(parents=True, exist_ok=True)
    with _declare_threads, open(folder / ".declare.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


#: Orders the message files one process writes within one millisecond (see FolderChannel).
_written = itertools.count()


def message_order(name: str) -> tuple:
    """Where a message file stands in its queue: the millisecond of the monotonic clock it was
    named at, then the writing process's sequence number (names without one — the stock
    transport's ``<ms>_<uuid>`` — come first in their millisecond). Compared as numbers, so
    the order holds when the millisecond count gains a digit."""
    head = name.partition(".")[0]
    parts = head.split("_")
    try:
        return (int(parts[0]), int(parts[1]) if len(parts) == 3 else -1, head)
    except ValueError:
        return (float("inf"), -1, head)


class FolderChannel(filesystem.Channel):
    """Kombu's filesystem channel, writing each message file whole before it is visible, and
    reading a queue without listing the folder for every message.

    * The stock ``_put`` creates the file under its final name and then writes it: a consumer
      polling the folder in between takes an empty file, fails to decode it and the event is
      lost. Here the file is written under a name no queue matches, then renamed (atomic on one
      file system).
    * Its name is ``<ms>_<sequence>_<uuid>.<queue>.msg``: the millisecond, then a number that
      grows with every message this process writes, so messages published one after another
      keep their order even within one millisecond (the stock name orders ties at random).
    * The stock ``_get`` lists and sorts the whole folder — every queue's messages — for each
      message it takes. Here one listing keeps the queue's names in order and messages are
      taken from it until it runs out; a file named later by the same writer is written later,
      so it cannot come before one already listed. A message is claimed by renaming it into
      the processed folder (same file system; a consumer that loses the race skips it), read,
      then removed.
    * The stock ``_lookup`` opens, locks and parses the exchange's table file and matches the
      routing key against every binding for each message published. Here the queues found for
      an exchange and routing key are kept while the table file is unchanged (same inode,
      modification time and size, one ``stat`` a message); a declaration by any process
      rewrites the file, and the next message looks its queues up afresh.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._listed: dict[str, collections.deque] = {}
        self._tables: dict[str, str] = {}     # exchange → its table file
        self._routes: dict[tuple, tuple] = {}  # (exchange, key, default) → (file version, queues)

    def _lookup(self, exchange, routing_key, default=None):
        if not exchange:
            return super()._lookup(exchange, routing_key, default)
        table = self._tables.get(exchange)
        if table is None:
            table = self._tables[exchange] = str(self._exchange_file(exchange))
        try:
            found = os.stat(table)
        except OSError:
            return super()._lookup(exchange, routing_key, default)
        version = (found.st_ino, found.st_mtime_ns, found.st_size)
        key = (exchange, routing_key, default)
        cached = self._routes.get(key)
        if cached is not None and cached[0] == version:
            return cached[1]
        # Read after the stat: a table rewritten in between is kept under the older version,
        # so the next message reads it again (never the other way round).
        queues = super()._lookup(exchange, routing_key, default)
        self._routes[key] = (version, queues)
        return queues

    def _put(self, queue, payload, **kwargs):
        name = (f"{int(round(time.monotonic() * 1000))}_{next(_written):012d}_{uuid.uuid4().hex}"
                f".{queue}.msg")
        path = os.path.join(self.data_folder_out, name)
        partial = path + ".partial"  # "<queue>.msg.partial": no consumer takes it
        try:
            with open(partial, "wb") as handle:
                handle.write(str_to_bytes(filesystem.dumps(payload)))
            os.replace(partial, path)
        except OSError as exc:
            raise ChannelError(f"Cannot add file {path!r} to directory") from exc

    def _get(self, queue):
        listed = self._listed.get(queue)
        if not listed:
            wanted = f"{queue}.msg"
            listed = self._listed[queue] = collections.deque(sorted(
                (name for name in os.listdir(self.data_folder_in)
                 if name.partition(".")[2] == wanted),
                key=message_order))
        while listed:
            name = listed.popleft()
            claimed = os.path.join(self.processed_folder, name)
            source = os.path.join(self.data_folder_in, name)
            try:
                os.rename(source, claimed)
            except FileNotFoundError as exc:
                if not os.path.exists(source):
                    continue      # taken by another consumer, or purged
                listed.clear()    # the processed folder is missing: say so, skip nothing
                raise ChannelError(f"Cannot move {source!r} to {self.processed_folder!r}") from exc
            try:
                with open(claimed, "rb") as handle:
                    payload = handle.read()
                if not self.store_processed:
                    os.remove(claimed)
            except OSError as exc:
                raise ChannelError(f"Cannot read file {claimed!r} from queue.") from exc
            return filesystem.loads(bytes_to_str(payload))
        raise Empty()

    def _purge(self, queue):
        self._listed.pop(queue, None)
        return super()._purge(queue)


class FolderTransport(filesystem.Transport):
    """Kombu's filesystem transport with its declaration cache kept per bus folder, and
    message files that appear only once written (:class:`FolderChannel`).

    The stock transport caches declared bindings in one process-wide state, so a second bus
    folder in the same process (tests, or two data dirs) would never get its bindings written.
    """

    Channel = FolderChannel
    _states: dict[str, virtual.BrokerState] = {}

    def __init__(self, client, **kwargs):
        super().__init__(client, **kwargs)
        folder = str(client.transport_options.get("control_folder", "control"))
        self.state = self._states.setdefault(folder, virtual.BrokerState())


def connection_for(broker_url: str, **kwargs) -> Connection:
    """A Kombu connection; the filesystem transport's folder comes from the URL path."""
    if broker_url.startswith("filesystem://"):
        folder = Path(broker_url[len("filesystem://"):] or "./var/bus")
        (folder / "queue").mkdir(parents=True, exist_ok=True)
        (folder / "processed").mkdir(parents=True, exist_ok=True)
        (folder / "control").mkdir(parents=True, exist_ok=True)
        options = {
            "control_folder": str(folder / "control"),
            "data_folder_in": str(folder / "queue"),
            "data_folder_out": str(folder / "queue"),
            "processed_folder": str(folder / "processed"),
            "store_processed": False,
            "polling_interval": 0.1,  # the stock 1 s would add up to a second per hop
        }
        kwargs.pop("connect_timeout", None)
        return Connection("filesystem://localhost/", transport=FolderTransport,
                          transport_options=options, **kwargs)
    options = {"confirm_publish": True}
    options.update(kwargs.pop("transport_options", {}))
    kwargs.setdefault("heartbeat", 30)
    kwargs.setdefault("connect_timeout", 5)
    return Connection(broker_url, transport_options=options, **kwargs)
