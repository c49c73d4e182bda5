"""Path ``loop``: a complaint opened through the complaints API until its penalty is in the
registry's satisfaction ledger, with every process started as production starts it:
``clientloop serve registry|complaints --workers 4``, ``clientloop relay registry|complaints``,
``clientloop consume registry|complaints``, on scratch PostgreSQL databases and a scratch
RabbitMQ virtual host.

Clients are registered through the registry's API (the complaints service learns them over the
bus), then complaints are opened at a fixed rate (100 a second for 20 s; open loop, each timed
from the moment it was due, ``bench.load.open_loop``). The moment a complaint's event is
applied is taken from PostgreSQL itself: a trigger the bench adds to the scratch registry
database runs ``pg_notify`` when the registry stores a ``complaint.opened`` event, and
PostgreSQL delivers the notification when that transaction — the one that also writes the
ledger entry — commits. Floor: the API's own answer (the ``201``) of the same requests.
"""
from __future__ import annotations

import json
import random
import threading
import time
from pathlib import Path

import psycopg
import requests

from bench import load
from bench.support import (PathResult, clientloop, migrate, percentile, say, scratch_databases,
                           scratch_vhost, serve, service_env, staff_token, started)

CHANNEL = "clientloop_bench_applied"
TRIGGER = f"""
CREATE FUNCTION clientloop_bench_applied() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('{CHANNEL}', NEW.ref);
  RETURN NEW;
END $$;
CREATE TRIGGER clientloop_bench_applied AFTER INSERT ON client_event FOR EACH ROW
  WHEN (NEW.event_type = 'complaint.opened') EXECUTE FUNCTION clientloop_bench_applied();
"""


class Applied:
    """Listens for the trigger's notifications: ``ref → time.monotonic()`` of each commit."""

    def __init__(self, url: str) -> None:
        self.connection = psycopg.connect(url, autocommit=True)
        self.connection.execute(f"LISTEN {CHANNEL}")
        self.at: dict[str, float] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._listen, daemon=True)
        self.thread.start()

    def _listen(self) -> None:
        while not self.stop.is_set():
            for notice in self.connection.notifies(timeout=0.2):
                self.at.setdefault(notice.payload, time.monotonic())

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)
        self.connection.close()


def _known(url: str) -> int:
    with psycopg.connect(url) as db:
        return db.execute("SELECT count(*) FROM known_client WHERE registered").fetchone()[0]


def run(result: PathResult, work: Path, *, quick: bool, client: str) -> None:
    rate, seconds, clients_count = (20.0, 3.0, 5) if quick else (100.0, 20.0, 100)
    with scratch_databases("registry", "complaints") as urls, scratch_vhost() as broker:
        for service in ("registry", "complaints"):
            migrate(service, urls[service])
        with psycopg.connect(urls["registry"], autocommit=True) as db:
            db.execute(TRIGGER)
        env = service_env(work, CLIENTLOOP_REGISTRY_DATABASE_URL=urls["registry"],
                          CLIENTLOOP_COMPLAINTS_DATABASE_URL=urls["complaints"],
                          CLIENTLOOP_BROKER_URL=broker)
        with serve("registry", env, work) as (registry, _), \
                serve("complaints", env, work) as (complaints, _), \
                started(clientloop("relay", "registry"), env, work / "relay-registry.log"), \
                started(clientloop("relay", "complaints"), env, work / "relay-complaints.log"), \
                started(clientloop("consume", "registry"), env, work / "consume-registry.log"), \
                started(clientloop("consume", "complaints"), env, work / "consume-complaints.log"):
            token = staff_token("staff")
            http = requests.Session()
            http.headers["Authorization"] = f"Bearer {token}"
            clients = []
            for number in range(clients_count):
                answer = http.post(f"{registry}/api/v1/clients", timeout=30, json={
                    "name": f"Bench client {number}", "kind": "external", "category": "enterprise",
                    "annual_value": {"amount": "250000.00", "currency": "CNY"}})
                answer.raise_for_status()
                clients.append(answer.json()["id"])
            deadline = time.monotonic() + 120
            while _known(urls["complaints"]) < clients_count:
                if time.monotonic() > deadline:
                    raise RuntimeError("the complaints service did not learn the clients in 2 minutes")
                time.sleep(0.2)
            say(f"{clients_count} clients registered and known to the complaints service")
            phases = _open_complaints(f"{complaints}/api/v1/complaints", token, clients,
                                      urls["registry"], [(5.0, 2.0), *([] if quick else [(10.0, 10.0)]),
                                                         (rate, seconds)])
    for (phase_rate, phase_seconds), figures in phases[1:]:
        opened, loop_ms, api_ms = figures["opened"], figures["loop_ms"], figures["api_ms"]
        missing = opened - len(loop_ms)
        worst = loop_ms + [float("inf")] * missing
        say(f"{opened:,} complaints at {phase_rate:.0f}/s: loop p50 {percentile(worst, .5):.1f} ms, "
            f"p99 {percentile(worst, .99):.1f} ms; API p50 {percentile(api_ms, .5):.1f} ms, "
            f"p99 {percentile(api_ms, .99):.1f} ms; {missing} not in the ledger within "
            f"{WAIT_S:.0f} s")
        note = f"{phase_rate:.0f} complaints/s for {phase_seconds:.0f} s"
        if missing:
            note += f"; {missing:,} of {opened:,} not in the ledger {WAIT_S:.0f} s after the last was due"
        goal = phase_rate == rate
        result.add("complaint opened → in the ledger, p50", percentile(worst, .5),
                   percentile(api_ms, .5), "ms", kind="below" if goal else "info", target=20.0,
                   note=note, floor_what="API answer")
        result.add("complaint opened → in the ledger, p99", percentile(worst, .99),
                   percentile(api_ms, .99), "ms", kind="below" if goal else "info", target=100.0,
                   note=note, floor_what="API answer")
        result.details[f"{phase_rate:g}/s"] = {
            "seconds": phase_seconds, "loop_ms_max": max(loop_ms, default=None),
            **{key: value for key, value in figures.items() if key not in ("loop_ms", "api_ms")}}
    result.details["clients"] = clients_count


#: How long after the last complaint was due the bench waits for the ledger to have them all.
WAIT_S = 30.0


def _open_complaints(url: str, token: str, clients: list[str], registry_url: str,
                     phases: list[tuple[float, float]]) -> list[tuple[tuple[float, float], dict]]:
    """Each phase ``(rate, seconds)`` in turn (the first is a warm-up): complaints opened in an
    open loop, then the wait for the registry to have applied them."""
    rng = random.Random(5)
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    severities = ["low", "medium", "medium", "high", "critical"]

    def make(number: int) -> bytes:
        body = {"client_id": rng.choice(clients), "channel": "email", "category": "service",
                "severity": rng.choice(severities), "title": f"工单无人处理 Ticket ignored #{number}",
                "description": "客户反馈：问题已持续两天，影响日常工作。The client reports it affects daily work."}
        return load.http_request("POST", url, json.dumps(body, ensure_ascii=False).encode(), headers)

    applied = Applied(registry_url)
    results = []
    try:
        for rate, seconds in phases:
            run, answers = load.open_loop(url, make, rate=rate, seconds=seconds)
            refs = {}
            for answer in answers:
                if answer.status == 201:
                    refs[json.loads(answer.body)["ref"]] = answer
            last_due = max((answer.due for answer in answers), default=time.monotonic())
            while time.monotonic() < last_due + WAIT_S and not set(refs) <= set(applied.at):
                time.sleep(0.1)
            loop_ms = [(applied.at[ref] - answer.due) * 1000 for ref, answer in refs.items()
                       if ref in applied.at]
            api_ms = [answer.latency_ms for answer in refs.values()]
            with psycopg.connect(registry_url) as db:
                in_ledger = db.execute(
                    "SELECT count(*) FROM satisfaction_entry WHERE event_type = 'complaint.opened' "
                    "AND event_id IN (SELECT event_id FROM client_event WHERE ref = ANY(%s))",
                    (list(refs),)).fetchone()[0]
            results.append(((rate, seconds), {
                "opened": run.requests, "answered_201": len(refs), "applied": len(loop_ms),
                "in_ledger": in_ledger, "loop_ms": loop_ms, "api_ms": api_ms,
                "open_loop": run.as_json()}))
    finally:
        applied.close()
    return results
