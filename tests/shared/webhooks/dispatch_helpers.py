"""Helpers for the dispatcher tests: a service database, loopback receivers, a running
dispatcher, events recorded in the outbox."""
from __future__ import annotations

import threading
import time
import uuid
from contextlib import contextmanager
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from sqlalchemy import select

from services.registry.adapters.orm import platform
from shared.bus.outbox import record_event
from shared.clock import utcnow
from shared.webhooks import store
from shared.webhooks.dispatcher import Dispatcher

TABLES = platform


class Receiver:
    """An HTTP server on 127.0.0.1 that records every request (headers, body bytes, when) and
    answers with ``answer(number, request)`` (a status; it may sleep first): the numbers run
    1, 2, … per ``webhook-id``."""

    def __init__(self, answer=lambda number, request: 200) -> None:
        self.requests: list[dict] = []
        self.answer = answer
        self.release = threading.Event()   # set at the end: a sleeping answer returns
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                request = {"headers": {k.lower(): v for k, v in self.headers.items()},
                           "body": body, "at": time.monotonic()}
                with receiver._lock:
                    receiver.requests.append(request)
                    number = sum(1 for r in receiver.requests
                                 if r["headers"].get("webhook-id") == request["headers"].get("webhook-id"))
                status = receiver.answer(number, request)
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                except OSError:
                    pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def ids(self) -> list[str]:
        with self._lock:
            return [request["headers"]["webhook-id"] for request in self.requests]

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@contextmanager
def receiver(answer=lambda number, request: 200):
    server = Receiver(answer)
    try:
        yield server
    finally:
        server.close()


class Clock:
    """A clock a test moves on by hand (starting at the real time, so signatures verify)."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or utcnow()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta) -> None:
        self.now += timedelta(**delta)


def dispatcher(database, settings, **kwargs) -> Dispatcher:
    kwargs.setdefault("poll_s", 0.05)
    return Dispatcher("registry", database, TABLES, settings, **kwargs)


@contextmanager
def running(dispatcher: Dispatcher):
    stop = threading.Event()
    thread = threading.Thread(target=dispatcher.run, args=(stop,), daemon=True)
    thread.start()
    try:
        yield dispatcher
    finally:
        stop.set()
        thread.join(10)


def drain(dispatcher: Dispatcher, timeout: float = 15.0) -> None:
    """One pass by hand: fan out, start the due attempts, wait until they are recorded."""
    dispatcher.fan_out()
    dispatcher.dispatch_due()
    assert wait_for(lambda: dispatcher.in_flight() == 0, timeout)


def wait_for(condition, timeout=15.0, interval=0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return condition()


def create_endpoint(database, url: str, event_types=("*",), *, now: datetime | None = None) -> dict:
    with database.transaction() as session:
        return store.create_endpoint(session, TABLES, url=url, event_types=list(event_types),
                                     description=None, now=now or utcnow())


def record(database, event_type: str = "client.updated", *, time: datetime | None = None,
           subject: str | None = None) -> dict:
    """One committed event; returns its envelope."""
    with database.transaction() as session:
        return record_event(session, TABLES, service="registry", event_type=event_type,
                            subject=subject or str(uuid.uuid4()), time=time or utcnow(),
                            data={"name": "华为 \"Huawei\"", "n": 1})


def outbox_body(database, event_id: str) -> bytes:
    with database.transaction() as session:
        return session.execute(select(TABLES.outbox.c.body)
                               .where(TABLES.outbox.c.event_id == event_id)).scalar_one().encode("utf-8")


def deliveries(database, endpoint_id: str) -> list[dict]:
    with database.transaction() as session:
        return store.list_deliveries(session, TABLES, endpoint_id, limit=1000)[0]


def endpoint(database, endpoint_id: str) -> dict:
    with database.transaction() as session:
        return store.get_endpoint(session, TABLES, endpoint_id)


def endpoint_row(database, endpoint_id: str):
    table = TABLES.webhook_endpoint
    with database.transaction() as session:
        return session.execute(select(table).where(table.c.id == endpoint_id)).mappings().one()

