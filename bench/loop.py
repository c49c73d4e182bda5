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

Beside the latencies, each phase keeps the CPU time every part of the loop spent in it
(``cpu_ms_per_complaint``: the complaints web server's master and workers, each relay and
consumer, the registry web server, the PostgreSQL backends serving the two scratch databases,
the RabbitMQ broker and the load generator), so a missed goal shows what the two cores went
to; ``machine_cpu_ms_per_complaint`` is what the whole machine spent, others' work included.
"""
from __future__ import annotations

import json
import os
import random
import threading
import time
from pathlib import Path
from typing import Callable

import psycopg
import requests

from bench import load
from bench.support import (PG_ADMIN_URL, PathResult, clientloop, migrate, percentile, say, scratch_databases,
                           scratch_vhost, serve, service_env, staff_token, started,
                           worker_pids)

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


_TICK_S = 1.0 / os.sysconf("SC_CLK_TCK")


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) * _TICK_S


def _cpu_probe(parts: dict[str, Callable[[], list[int]]]
               ) -> Callable[[], dict[str, dict[int, float]]]:
    """A function giving, for each part, the CPU seconds of each of its processes now."""
    def probe() -> dict[str, dict[int, float]]:
        return {name: {pid: _cpu_s(pid) for pid in pids()} for name, pids in parts.items()}
    return probe


def _machine_cpu_s() -> float:
    """CPU seconds the whole machine has spent (every core, every process) since boot."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    busy = sum(int(value) for number, value in enumerate(fields) if number not in (3, 4))
    return busy * _TICK_S


def _cpu_spent(before: dict[str, dict[int, float]], after: dict[str, dict[int, float]]
               ) -> dict[str, float]:
    """CPU seconds each part spent between two probes (a process new since counts from 0)."""
    return {name: round(sum(seconds - before.get(name, {}).get(pid, 0.0)
                            for pid, seconds in after[name].items()), 3) for name in after}


def _backends(*urls: str) -> Callable[[], list[int]]:
    """The PostgreSQL backend processes connected to the databases of ``urls`` now."""
    names = [url.rsplit("/", 1)[1] for url in urls]

    def pids() -> list[int]:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as db:
            return [row[0] for row in db.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = ANY(%s)", (names,))]
    return pids


def _broker_pids() -> list[int]:
    """RabbitMQ's Erlang VM (``beam.smp``) on this machine: the whole broker, which other
    users of it share."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == "beam.smp":
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


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

        def process(*args: str):
            return started(clientloop(*args), env, work / f"{'-'.join(args)}.log")

        with serve("registry", env, work) as (registry, registry_web), \
                serve("complaints", env, work) as (complaints, complaints_web), \
                process("relay", "registry") as relay_registry, \
                process("relay", "complaints") as relay_complaints, \
                process("consume", "registry") as consume_registry, \
                process("consume", "complaints") as consume_complaints:
            probe = _cpu_probe({
                "complaints web": lambda: [complaints_web.pid, *worker_pids(complaints_web.pid)],
                "registry web": lambda: [registry_web.pid, *worker_pids(registry_web.pid)],
                "relay complaints": lambda: [relay_complaints.pid],
                "consume registry": lambda: [consume_registry.pid],
                "relay registry": lambda: [relay_registry.pid],
                "consume complaints": lambda: [consume_complaints.pid],
                "postgresql (both databases)": _backends(urls["registry"], urls["complaints"]),
                "rabbitmq (whole broker)": _broker_pids,
                "bench (load generator)": lambda: [os.getpid()],
            })
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
            phases = _open_complaints(
                f"{complaints}/api/v1/complaints", token, clients, urls["registry"],
                urls["complaints"], [(5.0, 2.0), *([] if quick else [(10.0, 10.0)]),
                                     (rate, seconds)], probe)
    for (phase_rate, phase_seconds), figures in phases[1:]:
        opened, loop_ms, api_ms = figures["opened"], figures["loop_ms"], figures["api_ms"]
        missing = opened - len(loop_ms)
        worst = loop_ms + [float("inf")] * missing
        say(f"{opened:,} complaints at {phase_rate:.0f}/s: loop p50 {percentile(worst, .5):.1f} ms, "
            f"p99 {percentile(worst, .99):.1f} ms; API p50 {percentile(api_ms, .5):.1f} ms, "
            f"p99 {percentile(api_ms, .99):.1f} ms; {missing} not in the ledger within "
            f"{WAIT_S:.0f} s")
        say("stages: " + "; ".join(f"{name} p50 {figures['stages_ms'][name]['p50']} ms, p99 "
                                   f"{figures['stages_ms'][name]['p99']} ms"
                                   for name in figures["stages_ms"]))
        say("CPU ms per complaint: " + ", ".join(
            f"{name} {ms:.1f}" for name, ms in figures["cpu_ms_per_complaint"].items())
            + f"; the whole machine {figures['machine_cpu_ms_per_complaint']:.1f}")
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
                     complaints_url: str, phases: list[tuple[float, float]],
                     probe: Callable[[], dict]
                     ) -> list[tuple[tuple[float, float], dict]]:
    """Each phase ``(rate, seconds)`` in turn (the first is a warm-up): complaints opened in an
    open loop, then the wait for the registry to have applied them; ``probe``: the CPU time of
    the loop's processes (see :func:`_cpu_probe`), taken before and after each phase. Each
    phase also keeps the four stages each complaint's time went to (``stages_ms``, see
    :func:`_stages`)."""
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
            cpu_before, machine_before = probe(), _machine_cpu_s()
            run, answers = load.open_loop(url, make, rate=rate, seconds=seconds)
            refs = {}
            for answer in answers:
                if answer.status == 201:
                    refs[json.loads(answer.body)["ref"]] = answer
            last_due = max((answer.due for answer in answers), default=time.monotonic())
            while time.monotonic() < last_due + WAIT_S and not set(refs) <= set(applied.at):
                time.sleep(0.1)
            cpu_s = _cpu_spent(cpu_before, probe())
            machine_s = _machine_cpu_s() - machine_before
            loop_ms = [(applied.at[ref] - answer.due) * 1000 for ref, answer in refs.items()
                       if ref in applied.at]
            api_ms = [answer.latency_ms for answer in refs.values()]
            with psycopg.connect(registry_url) as db:
                in_ledger = db.execute(
                    "SELECT count(*) FROM satisfaction_entry WHERE event_type = 'complaint.opened' "
                    "AND event_id IN (SELECT event_id FROM client_event WHERE ref = ANY(%s))",
                    (list(refs),)).fetchone()[0]
                received = dict(db.execute(
                    "SELECT event_id, received_at FROM client_event WHERE ref = ANY(%s)",
                    (list(refs),)).fetchall())
            with psycopg.connect(complaints_url) as db:
                outbox = db.execute(
                    "SELECT body::json->'data'->>'ref', event_id, created_at, sent_at FROM outbox "
                    "WHERE event_type = 'complaint.opened' AND body::json->'data'->>'ref' = ANY(%s)",
                    (list(refs),)).fetchall()
            stages = _stages(refs, outbox, received, applied.at)
            results.append(((rate, seconds), {
                "stages_ms": {name: {"p50": round(percentile(values, .5), 1),
                                     "p99": round(percentile(values, .99), 1)}
                              for name, values in stages.items()},
                "opened": run.requests, "answered_201": len(refs), "applied": len(loop_ms),
                "in_ledger": in_ledger, "loop_ms": loop_ms, "api_ms": api_ms, "cpu_s": cpu_s,
                "cpu_ms_per_complaint": {name: round(spent * 1000 / max(1, len(refs)), 2)
                                         for name, spent in cpu_s.items()},
                "machine_cpu_ms_per_complaint": round(machine_s * 1000 / max(1, len(refs)), 2),
                "open_loop": run.as_json()}))
    finally:
        applied.close()
    return results


def _stages(refs: dict, outbox: list, received: dict, applied_at: dict) -> dict[str, list[float]]:
    """The loop's time of each complaint in four stages that add up to it, from the times the
    services stored (wall clock, the same machine's) and the bench's own (monotonic, converted):
    ``opening_ms``, from the moment it was due until the opening's transaction wrote the outbox
    row (the request reaching a web worker and the work before the insert); ``relay_ms``, from
    then until the complaints relay marked it sent (the rest of the transaction and its commit,
    the relay's wake-up, the publish and the broker's confirm); ``bus_and_consumer_ms``, from
    then until the registry's consumer began applying it (delivery, and waiting behind the
    events before it); ``apply_ms``, from then until the consumer's transaction had committed
    (the bench's listener heard the commit)."""
    to_wall = time.time() - time.monotonic()
    stages: dict[str, list[float]] = {
        "opening_ms": [], "relay_ms": [], "bus_and_consumer_ms": [], "apply_ms": []}
    for ref, event_id, created, sent in outbox:
        answer = refs.get(ref)
        if answer is not None:
            stages["opening_ms"].append((created.timestamp() - (answer.due + to_wall)) * 1000)
        if sent is None:
            continue
        stages["relay_ms"].append((sent - created).total_seconds() * 1000)
        if event_id not in received:
            continue
        stages["bus_and_consumer_ms"].append((received[event_id] - sent).total_seconds() * 1000)
        if ref in applied_at:
            stages["apply_ms"].append(
                (applied_at[ref] + to_wall - received[event_id].timestamp()) * 1000)
    return stages
