"""The fault suite: the production topology under load while its processes are killed and its
servers restarted, then every promise counted (published in ``docs/reliability.md``).

The topology is the shipped one, started as operators start it: a private PostgreSQL cluster
(one database per service) and a private RabbitMQ node, each service migrated
(``clientloop migrate``) and served by gunicorn with two workers (``clientloop serve``), two
relays and two consumers per service (``clientloop relay`` / ``consume``), nginx with the
gateway configuration from ``deploy/gateway`` in front. Under about 5,000 events of API
writes through the gateway, a consumer is killed three times and a relay twice (SIGKILL, then
started again), RabbitMQ is restarted once and PostgreSQL once. Afterwards:

* every event written to an outbox is on the bus (0 lost; duplicates allowed and counted);
* every subscribed event is applied by each service, and by registry once (0 double);
* each client's records equal a fresh, ordered fold of the events on the bus;
* no API answer was a 500 (outages answer 503);
* no write's ``Idempotency-Key`` stays "in flight": every retry under the first key gets
  an answer (the agents never switch to a new key);
* every dead-letter queue is empty;
* each client's events carry strictly increasing sequences, without gaps, in order.

It writes ``docs/reliability.md`` from what it counted, passed or failed, then asserts. Knobs for
a local run: ``CLIENTLOOP_FAULTS_STORIES`` (client stories, default 145) and
``CLIENTLOOP_FAULTS_KEEP_LOGS=DIR`` (copy every process log, the gateway's and the tap there).
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest

from services.registry.adapters.orm import platform as registry_platform
from services.registry.app import build_context, event_handlers
from shared.bus import topology
from shared.bus.consumer import apply_once
from shared.bus.envelope import Event
from shared.config import Settings
from shared.migrations import upgrade
from tests.conftest import REQUIRE, TEST_SECRET
from tests.e2e.harness import CLI, ProcessSuite
from tests.faults import audit
from tests.faults.drill import Drill, Step, kill_active_relay, kill_consumer, restart_server
from tests.faults.load import StoryQueue, Tally, run_load
from tests.faults.report import Run, publish
from tests.faults.servers import PrivatePostgres, PrivateRabbit
from tests.registry.conftest import Clock, register
from tests.support.gateway import Gateway, need_nginx

pytestmark = pytest.mark.faults

SERVICES = ("registry", "survey", "complaints")
#: One story (a client, three survey answers, two complaints through the workflow) writes
#: about 35 events; 145 stories make about 5,000.
STORIES = int(os.environ.get("CLIENTLOOP_FAULTS_STORIES", "145"))
AGENTS = 6
QUIET_TIMEOUT_S = 180.0
#: How long PostgreSQL stays down: longer than all retry delays together, so an outage that
#: were taken for a failure of the events would dead-letter them.
PG_DOWN_S = 5.0
ENV = {
    "CLIENTLOOP_RATELIMIT_PUBLIC": "100000 per minute",
    "CLIENTLOOP_RETRY_DELAYS": "0.2,0.5,1",
    "CLIENTLOOP_RELAY_POLL_S": "0.2",
    "CLIENTLOOP_JOBS_INTERVAL_S": "5",
    "CLIENTLOOP_PROXY_HOPS": "1",
    "CLIENTLOOP_LOG_LEVEL": "WARNING",
}


def need_tools() -> None:
    """nginx, PostgreSQL 15 and RabbitMQ installed, and root to run the servers as their own
    system users; missing, the suite skips with the reason (fails under
    ``CLIENTLOOP_REQUIRE_SERVICES=1``)."""
    need_nginx()
    missing = [tool for tool in ("/usr/lib/postgresql/15/bin/initdb",
                                 "/usr/lib/rabbitmq/bin/rabbitmq-server") if not Path(tool).exists()]
    message = None
    if missing:
        message = f"{', '.join(missing)} missing: the fault suite runs its own PostgreSQL and RabbitMQ"
    elif os.geteuid() != 0:
        message = ("the fault suite runs its own PostgreSQL and RabbitMQ as their system users: "
                   "run it as root")
    if message and REQUIRE:
        pytest.fail(message, pytrace=False)
    if message:
        pytest.skip(message)


class Topology:
    """Everything the run starts, stopped and removed by one ExitStack whatever happens."""

    def __init__(self, stack: ExitStack, folder: Path) -> None:
        self.folder = folder
        self.postgres = stack.enter_context(PrivatePostgres())
        self.rabbit = stack.enter_context(PrivateRabbit())
        self.database_urls = {service: self.postgres.create_database(service) for service in SERVICES}
        audit.bind_tap(self.rabbit.url)
        (folder / "tmp").mkdir()  # the processes' own temporary files (gunicorn's metrics)
        self.suite = ProcessSuite(folder, broker_url=self.rabbit.url,
                                  database_urls=self.database_urls, secret_key=TEST_SECRET,
                                  extra_env={**ENV, "TMPDIR": str(folder / "tmp")},
                                  process_groups=True)
        stack.callback(self.suite.stop)
        self.web = {service: self.suite.start(service, workers=2, replicas=2) for service in SERVICES}
        self.gateway = Gateway(folder / "gateway", {service: [url.removeprefix("http://")]
                                                    for service, url in self.web.items()})
        stack.callback(self.gateway.stop)
        self.url = self.gateway.start()

    def staff_token(self) -> str:
        created = subprocess.run([*CLI, "token", "create", "--role", "staff", "--name", "Fault drill"],
                                 env=self.suite.env, capture_output=True, text=True, timeout=60)
        assert created.returncode == 0, created.stderr
        return created.stdout.strip().splitlines()[-1]

    def describe(self) -> list[str]:
        return [
            "nginx with the gateway configuration from `deploy/gateway/nginx.conf` in front of "
            "every API call",
            "registry, survey and complaints, each migrated with `clientloop migrate` and served "
            "by gunicorn with 2 workers (`clientloop serve`)",
            "2 relays (`clientloop relay`) and 2 consumers (`clientloop consume`) per service",
            "PostgreSQL 15 (its own cluster, one database per service) and RabbitMQ "
            f"{_rabbit_version()} (its own node; quorum queues)",
            f"retry delays `{ENV['CLIENTLOOP_RETRY_DELAYS']}` s, relay poll "
            f"{ENV['CLIENTLOOP_RELAY_POLL_S']} s, periodic jobs every "
            f"{ENV['CLIENTLOOP_JOBS_INTERVAL_S']} s",
            f"{os.cpu_count()} CPU cores shared by all of it and the load",
        ]


def _rabbit_version() -> str:
    try:
        return subprocess.run(["dpkg-query", "-W", "-f", "${Version}", "rabbitmq-server"],
                              capture_output=True, text=True, timeout=10).stdout.split("-")[0] or "3"
    except OSError:
        return "3"


def _terminated(_signum, _frame):
    raise SystemExit("terminated")  # so that teardown stops every server and process


@pytest.fixture
def topology_up():
    need_tools()
    folder = Path(tempfile.mkdtemp(prefix="clientloop-faults-"))
    with ExitStack() as stack:
        stack.callback(shutil.rmtree, folder, True)
        stack.callback(signal.signal, signal.SIGTERM, signal.signal(signal.SIGTERM, _terminated))
        try:
            yield Topology(stack, folder)
        finally:
            logs = os.environ.get("CLIENTLOOP_FAULTS_KEEP_LOGS")
            if logs:
                shutil.copytree(folder, logs, dirs_exist_ok=True,
                                ignore=shutil.ignore_patterns("*.sock", "*.pid"))


def plan(top: Topology) -> list[Step]:
    suite, admin = top.suite, top.postgres.admin_url()
    return [
        Step(0.08, "SIGKILL a consumer", kill_consumer(suite, "registry-consume-1")),
        Step(0.18, "SIGKILL a relay", kill_active_relay(suite, "complaints", admin)),
        Step(0.30, "RabbitMQ restart", restart_server(
            "the RabbitMQ node stopped (`rabbitmqctl stop`) and started again with its data",
            top.rabbit.restart)),
        Step(0.44, "SIGKILL a consumer", kill_consumer(suite, "survey-consume-2")),
        Step(0.58, "PostgreSQL restart", restart_server(
            f"the PostgreSQL cluster stopped (`pg_ctl stop -m fast`: every connection cut), "
            f"started again {PG_DOWN_S:.0f} s later",
            lambda: top.postgres.restart(down_s=PG_DOWN_S))),
        Step(0.70, "SIGKILL a relay", kill_active_relay(suite, "registry", admin)),
        Step(0.82, "SIGKILL a consumer", kill_consumer(suite, "registry-consume-2")),
    ]


def test_no_event_is_lost_or_applied_twice_while_processes_die_and_servers_restart(topology_up):
    top = topology_up
    driven = drive(top)
    run = count(top, driven)
    publish(run)
    assert not run.failures, "\n".join(run.failures) + "\n\n" + error_digest(top.folder)


@dataclass
class Driven:
    """The load and the drill, run to the end and to quiet."""

    tally: Tally
    stories: StoryQueue
    drill: Drill
    started: float
    phases: dict[str, float]


def drive(top: Topology) -> Driven:
    """Run the load with the drill alongside, then wait until the system is quiet."""
    stop = threading.Event()
    started = time.monotonic()
    tally, stories, agents = run_load(top.url, top.staff_token(), stories=STORIES, agents=AGENTS,
                                      seed=8, stop=stop)
    drill = Drill(plan(top), lambda: stories.progress, started)
    drill.start()
    try:
        for agent in agents:
            agent.join(600)
    finally:
        stop.set()
        drill.load_done.set()
    phases = {"load finished": time.monotonic() - started}
    drill.join(300)
    phases["last fault injected"] = time.monotonic() - started
    waited = audit.wait_for_quiescence(top.database_urls, top.rabbit.url, timeout=QUIET_TIMEOUT_S)
    phases[f"quiet (no unsent rows, empty queues; waited {waited:.0f} s)"] = time.monotonic() - started
    return Driven(tally, stories, drill, started, phases)


def count(top: Topology, driven: Driven) -> Run:
    """Every figure of the run, and what failed."""
    tally = driven.tally
    # Outboxes, then the tap, then the outboxes again: an event a periodic job writes meanwhile
    # is neither lost (not in the first read) nor foreign (in the second).
    written = {service: audit.outbox(url)[0] for service, url in top.database_urls.items()}
    audit.wait_for_quiescence(top.database_urls, top.rabbit.url, timeout=60, settle_s=1)
    tap = audit.drain_tap(top.rabbit.url)
    (top.folder / "tap.json").write_text(json.dumps(tap))
    later = {service: audit.outbox(url)[0] for service, url in top.database_urls.items()}
    bus = audit.audit_bus(written, tap, written_by_now=later)
    not_applied, applied_registry = unapplied(top, tap)
    doubles = audit.registry_doubles(top.database_urls["registry"])
    fold = fold_audit(top, tap)
    dlq = audit.queue_depths(top.rabbit.url, [topology.dlq_name(service) for service in SERVICES])
    gateway_statuses = answered_by_gateway(top.gateway)
    duration_s = time.monotonic() - driven.started
    figures = {
        "events_written": bus.written, "events_on_bus": bus.distinct, "deliveries": bus.deliveries,
        "duplicates": bus.duplicates, "lost": len(bus.lost), "applied_registry": applied_registry,
        "not_applied": sum(not_applied.values()), "doubles": sum(doubles.values()),
        "fold_differences": len(fold.differing), "answers": sum(gateway_statuses.values()),
        "answers_500": max(gateway_statuses[500], tally.statuses[500]),
        "answers_503": gateway_statuses[503],
        "stuck_keys": sum(tally.stuck_keys.values()),
        "lost_answers": sum(tally.lost_answers.values()),
        "dlq": sum(dlq.values()),
        "sequence_violations": bus.shared_sequences + bus.gaps + bus.out_of_order,
        "duration_s": round(duration_s, 1),
    }
    agents_saw = sorted(tally.statuses.items(), key=lambda item: str(item[0]))
    return Run(
        figures=figures, injections=driven.drill.injections,
        load={"Client stories finished": driven.stories.completed, **dict(sorted(tally.done.items())),
              "API requests sent by the agents": sum(tally.statuses.values())},
        statuses={f"{status} (gateway log)": n for status, n in sorted(gateway_statuses.items())}
        | {f"{status} (seen by the agents)": n for status, n in agents_saw},
        dlq=dlq,
        sequences={"(source, subject) streams": bus.subjects,
                   "sequence numbers shared by two events": bus.shared_sequences,
                   "sequence numbers missing": bus.gaps,
                   "events that arrived after a later sequence": bus.out_of_order},
        topology=top.describe(),
        phases={**driven.phases, "counted": duration_s},
        failures=failures_of(figures, bus, tally, driven.stories, driven.drill, not_applied,
                             doubles, fold, dlq, gateway_statuses))


def unapplied(top: Topology, tap: list[dict]) -> tuple[dict[str, int], int]:
    """Per service, the events on the bus it subscribes to that its inbox does not hold; and
    how many registry applied."""
    distinct = {envelope["id"]: envelope for envelope in tap}
    missing, applied_registry = {}, 0
    for service in SERVICES:
        subscribed = {audit.topology_type(name) for name in topology.SUBSCRIPTIONS[service]}
        wanted = {event_id for event_id, envelope in distinct.items() if envelope["type"] in subscribed}
        missing[service] = len(wanted - audit.inbox_ids(top.database_urls[service]))
        if service == "registry":
            applied_registry = len(wanted) - missing[service]
    return missing, applied_registry


def answered_by_gateway(gateway: Gateway) -> Counter:
    """API answers by status, from the gateway's own access log."""
    gateway.reopen_logs()  # flush
    time.sleep(0.5)
    return Counter(entry["status"] for entry in gateway.access_entries()
                   if "/api/" in entry.get("path", ""))


def error_digest(folder: Path) -> str:
    """Per process log, how many error lines it has and the last one's message."""
    lines = []
    for path in sorted(folder.glob("*.log")):
        errors = [line for line in path.read_text(errors="replace").splitlines()
                  if '"level": "error"' in line]
        if errors:
            try:
                message = json.loads(errors[-1]).get("message", "")
            except ValueError:
                message = errors[-1][:200]
            lines.append(f"{path.name}: {len(errors)} error lines, last: {message}")
    return "\n".join(lines)


def failures_of(figures, bus, tally, stories, drill, not_applied, doubles, fold, dlq,
                gateway_statuses) -> list[str]:
    failures = []
    if bus.lost:
        failures.append(f"{len(bus.lost)} of {bus.written} written events never reached the bus "
                        f"(by type: {dict(bus.lost_types)}; e.g. {bus.lost[:3]})")
    if bus.foreign:
        failures.append(f"{len(bus.foreign)} events on the bus are in no outbox "
                        f"(e.g. {bus.foreign[:3]})")
    for service, count in not_applied.items():
        if count:
            failures.append(f"{service}: {count} subscribed events on the bus were never applied")
    for what, count in doubles.items():
        if count:
            failures.append(f"registry: {count} events applied twice ({what})")
    if fold.differing:
        sample = dict(list(fold.differing.items())[:5])
        failures.append(f"{len(fold.differing)} of {fold.clients} clients' records differ from a "
                        f"fresh ordered fold of their {fold.events} events (e.g. {sample})")
    if figures["answers_500"]:
        failures.append(f"{figures['answers_500']} answers were 500 (gateway log: "
                        f"{gateway_statuses[500]}, agents: {tally.statuses[500]}); first: "
                        f"{tally.server_errors[:3]}")
    if figures["stuck_keys"]:
        failures.append(f"{figures['stuck_keys']} writes kept answering 409 \"still being "
                        f"processed\" under their Idempotency-Key: {dict(tally.stuck_keys)}")
    for queue, count in dlq.items():
        if count:
            failures.append(f"{queue} holds {count} dead-lettered events")
    if bus.shared_sequences or bus.gaps or bus.out_of_order:
        failures.append(f"sequences: {bus.shared_sequences} shared, {bus.gaps} missing, "
                        f"{bus.out_of_order} out of order; arrivals (tap position:sequence:type) "
                        f"of the first such streams: {bus.disorder}")
    gave_up = {what: count for what, count in tally.done.items() if what.startswith("Gave up")}
    if gave_up:
        failures.append(f"the agents gave up {sum(gave_up.values())} writes: {gave_up}")
    if stories.completed < stories.total:
        failures.append(f"only {stories.completed} of {stories.total} client stories finished")
    if bus.written < 4000:
        failures.append(f"the load wrote {bus.written} events, fewer than the 4,000 it should")
    failures += [f"fault drill: {error}" for error in drill.errors]
    if len(drill.injections) != 7:
        failures.append(f"{len(drill.injections)} of 7 faults were injected")
    return failures


def fold_audit(top: Topology, tap: list[dict]) -> audit.FoldAudit:
    """The live registry against a fresh registry database fed the tap's events in order."""
    fold_url = top.postgres.create_database("registry_fold")
    upgrade("registry", fold_url)
    settings = Settings.from_env({**top.suite.env, "CLIENTLOOP_REGISTRY_DATABASE_URL": fold_url})
    fold_ctx = build_context(settings, clock=Clock())
    live_ctx = build_context(Settings.from_env(top.suite.env))
    handlers = event_handlers(fold_ctx)

    def apply(ctx, envelope: dict) -> None:
        event = Event.from_envelope(envelope)
        apply_once(ctx.database, registry_platform, handlers[event.type], event, now=ctx.clock())

    try:
        return audit.audit_fold(tap, live_ctx, fold_ctx, register, apply)
    finally:
        fold_ctx.database.dispose()
        live_ctx.database.dispose()
