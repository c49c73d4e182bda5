"""Paths ``apply`` and ``apply-growth``: the registry applying feedback events.

* ``apply``: 3,000 ``survey.response.submitted`` events for 20 clients, in the CloudEvent form
  the survey service's relay publishes (``shared.bus.envelope``), published with confirms to
  ``clientloop.events`` on a scratch RabbitMQ virtual host while ``clientloop consume registry``
  runs; timed from the first publish until the registry database holds all 3,000 (polled every
  50 ms). Floor: the same 3,000 bodies published with confirms to a quorum queue of the same
  broker and consumed and acknowledged one by one (prefetch 20) by a plain Kombu consumer in its
  own process (``bench.floor_consumer``).
* ``apply-growth``: one event applied, in-process, the way the consumer applies it
  (``shared.bus.consumer.apply_once``: inbox row and the registry's handler in one
  transaction), for a client with 100 prior events and for one with 10,000; the stored history
  is made by inserting the events and folding them once with the registry's own code
  (``records.refresh``), so ledger, history and client row agree as if each had been applied.
"""
from __future__ import annotations

import json
import random
import subprocess
import sys
import time
import uuid
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

from bench.support import (ROOT, SECRET, PathResult, clientloop, median, migrate, now_utc, say,
                           scratch_databases, scratch_vhost, service_env, started)

EVENT = "survey.response.submitted"
COMMENTS = ["交付及时，沟通顺畅。", "Support took too long to answer.", "", "价格偏高，但质量很好。",
            "The new release fixed our main issue."]


def _context(url: str, work: Path):
    from services.registry.app import build_context
    from shared.config import Settings
    settings = Settings.from_env({"CLIENTLOOP_REGISTRY_DATABASE_URL": url,
                                  "CLIENTLOOP_SECRET_KEY": SECRET}, data_dir=work / "data")
    return build_context(settings)


def _register(ctx, count: int, prefix: str = "Bench client") -> list[str]:
    from services.registry import service
    ids = []
    with ctx.database.transaction() as session:
        for number in range(count):
            client = service.register_client(
                session, {"name": f"{prefix} {number}", "kind": "external", "category": "enterprise",
                          "annual_value": {"amount": "120000.00", "currency": "CNY"}},
                now=ctx.clock(), rules=ctx.extras["rules"])
            ids.append(client.id)
    return ids


def feedback_data(client_id: str, at: datetime, rng: random.Random) -> dict:
    """What the survey service publishes for a response (the survey's first NPS/CSAT/CES)."""
    nps, csat, ces = rng.randint(0, 10), rng.randint(1, 5), rng.randint(1, 7)
    score = round((Decimal(10 * nps) * 2 + Decimal(csat - 1) * 25 + Decimal(ces - 1) * 100 / 6) / 4, 2)
    return {"response_id": str(uuid.uuid4()), "survey_id": "8f1d2c3b-0000-4000-8000-000000000001",
            "invitation_id": str(uuid.uuid4()), "client_id": client_id,
            "submitted_at": at.strftime("%Y-%m-%dT%H:%M:%SZ"), "score": float(score),
            "scoring_version": "1", "nps": nps,
            "nps_category": "promoter" if nps >= 9 else "passive" if nps >= 7 else "detractor",
            "csat": csat, "ces": ces, "comment": rng.choice(COMMENTS) or None}


def feedback_envelopes(clients: list[str], count: int, *, seed: int = 3) -> list[dict]:
    """``count`` feedback events spread evenly over ``clients``, a minute apart, in time order,
    each client's with its own increasing sequence."""
    from shared.bus.envelope import build_envelope
    rng = random.Random(seed)
    start = now_utc().replace(microsecond=0) - timedelta(minutes=count + 5)
    sequences = {client: 0 for client in clients}
    envelopes = []
    for number in range(count):
        client = clients[number % len(clients)]
        sequences[client] += 1
        at = start + timedelta(minutes=number)
        envelopes.append(build_envelope(service="survey", event_type=EVENT, subject=client,
                                        data=feedback_data(client, at, rng), time=at,
                                        sequence=sequences[client]))
    return envelopes


def _publish_all(broker: str, envelopes: list[dict], *, queue: str | None = None
                 ) -> tuple[float, float]:
    """Publish with confirms (one at a time, as the relay does), to the events exchange by
    event type or straight to ``queue`` (the default exchange); ``time.monotonic()`` of the
    first publish (the connection already open) and the seconds publishing took."""
    from kombu import Exchange, Producer

    from shared.bus import topology
    from shared.bus.envelope import SERIALIZER
    connection = topology.connection_for(broker)
    connection.ensure_connection(max_retries=3)
    exchange = topology.events_exchange(True) if queue is None else Exchange("")
    producer = Producer(connection.channel(), exchange=exchange, serializer=SERIALIZER)
    started_at = time.monotonic()
    try:
        for envelope in envelopes:
            producer.publish(envelope, routing_key=queue or EVENT, delivery_mode=2,
                             message_id=envelope["id"], declare=[], retry=False)
    finally:
        connection.release()
    return started_at, time.monotonic() - started_at


def consumers_on(broker: str, queue: str) -> int:
    """How many consumers ``queue`` has (0 when it does not exist yet)."""
    from kombu import Connection
    try:
        with Connection(broker, connect_timeout=5) as connection:
            _name, _messages, consumers = connection.default_channel.queue_declare(
                queue=queue, passive=True)
            return consumers
    except Exception:  # noqa: BLE001 - not declared yet
        return 0


def _applied(url: str) -> int:
    import psycopg
    with psycopg.connect(url) as db:
        return db.execute("SELECT count(*) FROM client_event WHERE event_type = %s", (EVENT,)).fetchone()[0]


def run_apply(result: PathResult, work: Path, *, quick: bool, client: str) -> None:
    events, clients_count = (300, 5) if quick else (3000, 20)
    with scratch_databases("registry") as urls, scratch_vhost() as broker:
        url = urls["registry"]
        migrate("registry", url)
        ctx = _context(url, work)
        clients = _register(ctx, clients_count)
        ctx.database.dispose()
        envelopes = feedback_envelopes(clients, events)
        size = sum(len(json.dumps(e, ensure_ascii=False).encode()) for e in envelopes) / len(envelopes)
        say(f"{events:,} events for {clients_count} clients, {size:.0f} bytes each")

        floor_s = _floor(broker, envelopes, work)
        say(f"floor: {events / floor_s:,.0f} msg/s ({floor_s:.2f} s)")

        env = service_env(work, CLIENTLOOP_REGISTRY_DATABASE_URL=url, CLIENTLOOP_BROKER_URL=broker)
        with started(clientloop("consume", "registry"), env, work / "consume-registry.log",
                     ready=lambda: consumers_on(broker, "registry.events") > 0):
            began, published_s = _publish_all(broker, envelopes)
            deadline = began + (60 if quick else 600)
            applied = 0
            while time.monotonic() < deadline:
                applied = _applied(url)
                if applied >= events:
                    break
                time.sleep(0.05)
            elapsed = time.monotonic() - began
        failed = None if applied >= events else f"{applied:,} of {events:,} applied in {elapsed:.0f} s"
        say(f"registry: {applied / elapsed:,.0f} events/s ({elapsed:.1f} s; publishing took "
            f"{published_s:.1f} s)")
        result.add(f"{events:,} feedback events, {clients_count} clients, 1 consumer",
                   applied / elapsed, events / floor_s, "events/s", kind="ratio_min", target=0.5,
                   floor_what="publish → consume + ack", failed=failed)
        result.details.update(events=events, clients=clients_count, body_bytes=round(size),
                              seconds=round(elapsed, 3), publish_seconds=round(published_s, 3),
                              floor_seconds=round(floor_s, 3))


def _floor(broker: str, envelopes: list[dict], work: Path) -> float:
    """Seconds from the first publish to the last acknowledgement of the same bodies through a
    quorum queue of their own, consumed by ``bench.floor_consumer`` in its own process."""
    from kombu import Connection, Queue
    queue = f"bench.floor.{uuid.uuid4().hex[:8]}"
    with Connection(broker) as connection:
        Queue(queue, durable=True, queue_arguments={"x-queue-type": "quorum"})(
            connection.default_channel).declare()
    log = open(work / "floor-consumer.log", "ab")
    process = subprocess.Popen([sys.executable, "-m", "bench.floor_consumer", broker, queue,
                                str(len(envelopes))], cwd=ROOT, stdout=subprocess.PIPE,
                               stderr=log, text=True)
    try:
        deadline = time.monotonic() + 30
        while consumers_on(broker, queue) == 0:
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError("the floor consumer did not start; see floor-consumer.log")
            time.sleep(0.1)
        began, _published_s = _publish_all(broker, envelopes, queue=queue)
        out, _ = process.communicate(timeout=300)
        finished = float(out.strip().splitlines()[-1])
        return finished - began
    finally:
        if process.poll() is None:
            process.kill()
        log.close()
        with Connection(broker) as connection:
            connection.default_channel.queue_delete(queue)


# == apply-growth ================================================================================

def _seed_history(ctx, client_id: str, count: int, rng: random.Random, now: datetime) -> datetime:
    """``count`` prior events (feedback mostly, some complaints opened and resolved) stored for
    the client, then folded once by the registry's code; the time of the last one."""
    from sqlalchemy import insert

    from services.registry import records
    from services.registry.adapters.orm import ClientEventRecord
    start = now - timedelta(hours=count + 10)
    rows, open_refs = [], []
    for number in range(count):
        at = start + timedelta(hours=number)
        row = {"client_id": client_id, "event_id": str(uuid.uuid4()), "occurred_at": at,
               "received_at": at, "score": None, "severity": None, "within_sla": None, "ref": None}
        if open_refs and rng.random() < 0.5 and number % 10 == 5:
            row.update(event_type="complaint.resolved", severity="medium", within_sla=True,
                       ref=open_refs.pop())
        elif number % 10 == 0:
            ref = f"CMP-{number:06d}"
            open_refs.append(ref)
            row.update(event_type="complaint.opened", severity="medium", ref=ref)
        else:
            row.update(event_type=EVENT, score=str(feedback_data(client_id, at, rng)["score"]))
        rows.append(row)
    with ctx.database.transaction() as session:
        for begin in range(0, len(rows), 5000):
            session.execute(insert(ClientEventRecord), rows[begin:begin + 5000])
        client = records.lock_client(session, client_id)
        records.refresh(session, client, now=now, rules=ctx.extras["rules"], cause=None,
                        announce=False)
    return start + timedelta(hours=count - 1)


def run_growth(result: PathResult, work: Path, *, quick: bool, client: str) -> None:
    from sqlalchemy import text

    from services.registry.adapters.orm import platform
    from services.registry.consumers import event_handlers
    from shared.bus.consumer import apply_once
    from shared.bus.envelope import Event
    small, large = 100, (2_000 if quick else 10_000)
    rounds = 5 if quick else 15
    rng = random.Random(11)
    with scratch_databases("registry") as urls:
        migrate("registry", urls["registry"])
        ctx = _context(urls["registry"], work)
        try:
            now = now_utc()
            ids = _register(ctx, 2)
            began = time.monotonic()
            last = {ids[0]: _seed_history(ctx, ids[0], small, rng, now),
                    ids[1]: _seed_history(ctx, ids[1], large, rng, now)}
            say(f"histories of {small:,} and {large:,} events stored in {time.monotonic() - began:.1f} s")
            with ctx.database.transaction() as session:
                session.execute(text("ANALYZE"))
            handler = event_handlers(ctx)[EVENT]
            timings: dict[str, list[float]] = {client_id: [] for client_id in ids}
            for number in range(rounds + 1):  # the first round warms up
                for client_id in ids:
                    at = last[client_id] + timedelta(minutes=number + 1)
                    event = Event(id=str(uuid.uuid4()), type=EVENT, source="clientloop/survey",
                                  subject=client_id, time=at, sequence=None,
                                  data=feedback_data(client_id, at, rng))
                    began = time.perf_counter()
                    applied = apply_once(ctx.database, platform, handler, event, now=ctx.clock())
                    elapsed = (time.perf_counter() - began) * 1000
                    if not applied:
                        raise RuntimeError("an event was not applied")
                    if number:
                        timings[client_id].append(elapsed)
        finally:
            ctx.database.dispose()
    small_ms, large_ms = median(timings[ids[0]]), median(timings[ids[1]])
    say(f"apply one event: {small_ms:.1f} ms with {small:,} prior events, {large_ms:.1f} ms with "
        f"{large:,}")
    result.add(f"apply one event, client with {large:,} prior events", large_ms, small_ms, "ms",
               kind="ratio_max", target=1.2, floor_what=f"{small:,} prior events",
               note=f"median of {rounds}")
    result.details.update(prior_events=[small, large], rounds=rounds,
                          small_ms=[round(t, 2) for t in timings[ids[0]]],
                          large_ms=[round(t, 2) for t in timings[ids[1]]])
