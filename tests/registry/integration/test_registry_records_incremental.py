"""The registry folds a client's records on from a stored state, never re-reading its history:
thousands of events per client, applied as the consumer applies them — one by one or in
batches of several clients' events, most in time order, a fifth of them late, some twice, with
staff changing the annual value and the periodic job moving the 90-day window meanwhile —
leave exactly the records that the full fold of everything stored gives (``full_fold``): every
ledger entry and reason, the value history, health, value at risk, open complaints,
``complaints_90d`` and the next window move. The stored rows an event reads do not grow with
the client's history, and a batch publishes what its events applied one by one publish."""
from __future__ import annotations

import random
import statistics
from bisect import bisect_right, insort
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import event as sa_event
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from services.registry import records
from services.registry import service as registry_service
from services.registry.adapters.orm import (ClientEventRecord, ClientRecord,
                                            RecordsCheckpointRecord, SatisfactionEntryRecord,
                                            ValueHistoryRecord, platform)
from services.registry.app import build_context, event_handlers, run_jobs
from services.registry.domain.events import SatisfactionEvent
from services.registry.domain.money import MONEY_PLACES
from services.registry.domain.records_fold import CHECKPOINT_EVERY, full_fold
from services.registry.domain.rounding import round_half_up
from shared.bus.consumer import apply_batch
from shared.bus.envelope import Event
from shared.clock import as_utc
from shared.migrations import upgrade
from tests.registry.conftest import deliver, published, register

SEVERITIES = ("low", "medium", "high", "critical")
EVENTS_PER_CLIENT = 1500
AMOUNTS = ("2500000.00", "150000.00", "42000.50", None)


@pytest.fixture(params=["sqlite", "postgresql"])
def registry_ctx(request, settings, clock):
    """Each test on the embedded default and on PostgreSQL: their statements over several
    clients differ (a condition per client; arrays joined as rows)."""
    if request.param == "postgresql":
        settings = settings.with_overrides(database_urls={
            **settings.database_urls, "registry": request.getfixturevalue("postgres_url")})
    upgrade("registry", settings.database_url("registry"))
    ctx = build_context(settings, clock=clock)
    yield ctx
    ctx.database.dispose()


class RowsRead:
    """Counts the rows every SELECT run through a Session returns while it listens."""

    def __init__(self) -> None:
        self.rows = 0

    def __call__(self, state):
        if not state.is_select:
            return None
        frozen = state.invoke_statement().freeze()
        self.rows += len(frozen().all())
        return frozen()

    def __enter__(self) -> "RowsRead":
        sa_event.listen(Session, "do_orm_execute", self)
        return self

    def __exit__(self, *exc) -> None:
        sa_event.remove(Session, "do_orm_execute", self)


def client_story(rng: random.Random, bus, client_id: str, start, count: int) -> list[dict]:
    """``count`` events of one client from ``start`` on, about seven hours apart: survey
    responses (some without a score) and complaints opened, reclassified, waiting and resumed,
    resolved (in or after their SLA) and sometimes reopened."""
    events: list[dict] = []
    at = start
    while len(events) < count:
        at += timedelta(minutes=rng.randint(60, 800))
        if rng.random() < 0.45:
            score = None if rng.random() < 0.1 else round(rng.uniform(0, 100), rng.choice((0, 2)))
            events.append(bus.survey(client_id, score, at=at))
            continue
        ref, severity = bus.new_ref(), rng.choice(SEVERITIES)
        story = [bus.opened(client_id, severity, ref=ref, at=at)]
        later = at
        if rng.random() < 0.3:
            later += timedelta(hours=rng.uniform(1, 30))
            new = rng.choice([s for s in SEVERITIES if s != severity])
            story.append(bus.reclassified(client_id, severity, new, ref=ref, at=later))
            severity = new
        if rng.random() < 0.2:
            later += timedelta(hours=rng.uniform(1, 10))
            story.append(bus.waiting(client_id, severity, ref=ref, at=later,
                                     resolve_by=later + timedelta(days=3)))
            later += timedelta(hours=rng.uniform(1, 10))
            story.append(bus.resumed(client_id, severity, ref=ref, at=later,
                                     resolve_by=later + timedelta(days=3)))
        if rng.random() < 0.85:
            later += timedelta(hours=rng.uniform(1, 200))
            story.append(bus.resolved(client_id, severity, ref=ref,
                                      within_sla=rng.random() < 0.6, at=later))
            if rng.random() < 0.2:
                later += timedelta(days=rng.uniform(1, 15))
                story.append(bus.reopened(client_id, severity, ref=ref, at=later))
        events.extend(story)
    return events[:count]


def expected_view(ctx, client_id: str) -> tuple:
    """What the full fold of everything stored for the client gives, as the registry stores it."""
    rules = ctx.extras["rules"]
    now = ctx.clock()
    with ctx.database.transaction() as session:
        client = session.get(ClientRecord, client_id)
        fold = full_fold(records.annual_value_of(client), records.stored_events(session, client_id),
                         records.stored_annual_value_changes(session, client_id), now,
                         rules.satisfaction, rules.value)
    places = rules.satisfaction.places
    ledger = [(entry.event_id, entry.event_type, entry.occurred_at,
               records.shown(entry.delta, places), records.shown(entry.value, places), entry.reason)
              for entry in fold.ledger]
    history = [(entry.at, (entry.cause or {}).get("event_id"),
                (entry.cause or {}).get("event_type"), entry.tier, entry.health_score,
                entry.health_band, round_half_up(entry.value_at_risk, MONEY_PLACES))
               for entry in fold.history]
    value = fold.value
    current = (records.shown(fold.ledger[-1].value if fold.ledger else None, places), value.tier,
               value.health_score, value.health_band, value.open_complaints.low,
               value.open_complaints.medium, value.open_complaints.high,
               value.open_complaints.critical, value.complaints_90d,
               round_half_up(value.value_at_risk, MONEY_PLACES), fold.window_moves_at)
    return ledger, history, current


def stored_view(ctx, client_id: str) -> tuple:
    with ctx.database.transaction() as session:
        ledger = [(row.event_id, row.event_type, as_utc(row.occurred_at),
                   None if row.delta is None else Decimal(row.delta), Decimal(row.value),
                   row.reason)
                  for row in session.execute(select(SatisfactionEntryRecord).where(
                      SatisfactionEntryRecord.client_id == client_id)
                      .order_by(SatisfactionEntryRecord.position)).scalars()]
        history = [(as_utc(row.at), row.cause_event_id, row.cause_event_type, row.tier,
                    Decimal(row.health_score), row.health_band, Decimal(row.value_at_risk))
                   for row in session.execute(select(ValueHistoryRecord).where(
                       ValueHistoryRecord.client_id == client_id)
                       .order_by(ValueHistoryRecord.position)).scalars()]
        row = session.get(ClientRecord, client_id)
        current = (None if row.satisfaction is None else Decimal(row.satisfaction), row.tier,
                   Decimal(row.health_score), row.health_band, row.open_low, row.open_medium,
                   row.open_high, row.open_critical, row.complaints_90d,
                   Decimal(row.value_at_risk), as_utc(row.window_moves_at))
    return ledger, history, current


def as_applied(envelope: dict) -> SatisfactionEvent:
    return SatisfactionEvent.from_bus(envelope["id"], envelope["type"], _time(envelope),
                                      envelope["data"])


def _time(envelope: dict) -> datetime:
    return datetime.fromisoformat(envelope["time"].replace("Z", "+00:00"))


def test_thousands_of_events_late_twice_and_between_edits_give_the_full_fold(registry_ctx, bus,
                                                                             clock):
    rng = random.Random(20261210)
    start = clock.now - timedelta(days=450)
    clock.now = start
    clients = [register(registry_ctx, f"Client {number}",
                        annual_value={"amount": "150000.00", "currency": "CNY"})
               for number in range(2)]
    stories = {client.id: client_story(rng, bus, client.id, start, EVENTS_PER_CLIENT)
               for client in clients}
    # Delivered as they happen, but a fifth of them late (up to 20 days) and some twice.
    arrivals = []
    for client_id, story in stories.items():
        for envelope in story:
            delay = timedelta(days=rng.uniform(0, 20)) if rng.random() < 0.2 else timedelta()
            arrivals.append((_time(envelope) + delay + timedelta(minutes=5), envelope))
            if rng.random() < 0.04:
                arrivals.append((_time(envelope) + timedelta(days=rng.uniform(0, 40)), envelope))
    arrivals.sort(key=lambda arrival: arrival[0])

    read_in_order, read_late, applied, skipped = [], [], 0, 0
    stored_keys: dict[str, list] = {client.id: [] for client in clients}
    handlers = event_handlers(registry_ctx)
    batch: list[dict] = []
    for number, (arrives, envelope) in enumerate(arrivals):
        clock.now = max(clock.now, arrives)
        client_id = envelope["subject"]
        key = as_applied(envelope).order_key
        if number % 100 >= 70:  # now and then, events arrive together: one transaction
            batch.append(envelope)
            if len(batch) == 1 + number % 7 or number % 100 == 99:
                result = apply_batch(registry_ctx.database, platform, handlers,
                                     [Event.from_envelope(each) for each in batch], now=clock.now)
                applied, skipped = applied + result.count(True), skipped + result.count(False)
                for each, fresh in zip(batch, result):
                    if fresh:
                        insort(stored_keys[each["subject"]], as_applied(each).order_key)
                batch = []
            continue
        later = len(stored_keys[client_id]) - bisect_right(stored_keys[client_id], key)
        with RowsRead() as counter:
            result = deliver(registry_ctx, envelope)
        applied, skipped = applied + result.count(True), skipped + result.count(False)
        if result == [True]:
            insort(stored_keys[client_id], key)
            (read_late if later else read_in_order).append(counter.rows)
            # Never more than the checkpoint before the event's place and what follows it.
            assert counter.rows <= 3 * (CHECKPOINT_EVERY + later) + 40, (number, later)
        if number % 700 == 350:  # staff change the annual value
            with registry_ctx.database.transaction() as session:
                registry_service.update_client(
                    session, client_id, {"annual_value": None if rng.random() < 0.2 else
                                         {"amount": rng.choice(AMOUNTS[:3]), "currency": "CNY"}},
                    expected_version=None, now=clock.now, rules=registry_ctx.extras["rules"])
        if number % 900 == 450:  # the periodic job
            run_jobs(registry_ctx, clock.now)
        if number % 1000 == 999:
            for client in clients:
                assert stored_view(registry_ctx, client.id) == \
                    expected_view(registry_ctx, client.id)

    clock.advance(days=120)  # every complaint left the window but the latest
    run_jobs(registry_ctx, clock.now)
    for client in clients:
        view = stored_view(registry_ctx, client.id)
        assert view == expected_view(registry_ctx, client.id)
        assert len(view[0]) > 1000 and len(view[1]) > 500
    assert applied == 2 * EVENTS_PER_CLIENT and skipped > 50
    assert len(read_late) > 200
    # An event newer than the others reads a few rows, however long the history.
    assert statistics.median(read_in_order) <= 12
    with registry_ctx.database.transaction() as session:
        kept = session.execute(select(RecordsCheckpointRecord.client_id)).scalars().all()
        stored = session.execute(select(ClientEventRecord.id)).scalars().all()
    assert len(stored) == 2 * EVENTS_PER_CLIENT
    assert 2 * 10 <= len(kept) <= 2 * (2 * EVENTS_PER_CLIENT // CHECKPOINT_EVERY + 2)


@pytest.mark.parametrize("prior", [20, 1200])
def test_an_event_newer_than_the_others_reads_the_same_rows_whatever_the_history(
        registry_ctx, bus, clock, prior):
    client = register(registry_ctx, annual_value={"amount": "150000.00", "currency": "CNY"})
    story = [as_applied(envelope) for envelope in
             client_story(random.Random(prior), bus, client.id, clock.now, prior)]
    clock.now = max(event.occurred_at for event in story) + timedelta(hours=1)
    with registry_ctx.database.transaction() as session:  # a history stored long ago...
        session.execute(insert(ClientEventRecord), [{
            "client_id": client.id, "event_id": event.event_id, "event_type": event.event_type,
            "occurred_at": event.occurred_at, "received_at": event.occurred_at,
            "score": None if event.score is None else str(event.score),
            "severity": event.severity, "previous_severity": event.previous_severity,
            "within_sla": event.within_sla, "ref": event.ref} for event in story])
        records.refresh(session, records.lock_client(session, client.id), now=clock.now,
                        rules=registry_ctx.extras["rules"], cause=None, announce=False)
    counts = []
    for hours in (1, 2, 3):
        clock.advance(hours=1)
        with RowsRead() as counter:
            assert deliver(registry_ctx, bus.survey(client.id, 80 + hours, at=clock.now)) == [True]
        counts.append(counter.rows)
    assert max(counts) <= 12, counts
    assert stored_view(registry_ctx, client.id) == expected_view(registry_ctx, client.id)


def test_a_batch_publishes_what_its_events_applied_one_by_one_publish(registry_ctx, settings, bus,
                                                                       clock, tmp_path):
    """The same events, with the same clock, to two registries: one applies them one by one,
    the other in batches mixing clients (and the same event twice)."""
    other_url = f"sqlite:///{tmp_path / 'batched.db'}"
    upgrade("registry", other_url)
    batched = build_context(settings.with_overrides(
        database_urls={**settings.database_urls, "registry": other_url}), clock=clock)
    try:
        rng = random.Random(5)
        start = clock.now - timedelta(days=60)
        ids = [f"00000000-0000-4000-8000-{number:012d}" for number in range(4)]
        for ctx in (registry_ctx, batched):
            for client_id in ids:
                register(ctx, f"Client {client_id[-2:]}", client_id=client_id,
                         annual_value={"amount": "150000.00", "currency": "CNY"})
        envelopes = [envelope for client_id in ids
                     for envelope in client_story(rng, bus, client_id, start, 40)]
        rng.shuffle(envelopes)
        deliveries = envelopes + rng.sample(envelopes, 10)
        handlers = event_handlers(batched)
        for begin in range(0, len(deliveries), 9):
            chunk = deliveries[begin:begin + 9]
            one_by_one = deliver(registry_ctx, *chunk)
            together = apply_batch(batched.database, platform, handlers,
                                   [Event.from_envelope(envelope) for envelope in chunk],
                                   now=clock.now)
            assert together == one_by_one
            clock.advance(hours=1)
        def registration_as_one(view):  # each registry registered its clients itself
            ledger, history, current = view
            return ledger, [entry[:1] + ("registration",) + entry[2:]
                            if entry[2] == "client.registered" else entry
                            for entry in history], current

        for client_id in ids:
            assert registration_as_one(stored_view(batched, client_id)) == \
                registration_as_one(stored_view(registry_ctx, client_id))

        def announced(ctx):
            by_client: dict[str, list] = {}
            for event in published(ctx):
                if event["type"].startswith("clientloop.client.") and "changed" in event["type"]:
                    by_client.setdefault(event["subject"], []).append(
                        (event["type"], event["sequence"], event["time"], event["data"]))
            return by_client

        expected = announced(registry_ctx)
        assert sum(len(changes) for changes in expected.values()) > 100
        assert announced(batched) == expected
    finally:
        batched.database.dispose()
