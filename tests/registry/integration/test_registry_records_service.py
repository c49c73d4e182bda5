"""Satisfaction and value records driven by bus events, on the embedded
database: what a project manager reads and what subscribers receive."""
from __future__ import annotations

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from kombu import Producer
from sqlalchemy import func, select

from services.registry import records
from services.registry import service as registry_service
from services.registry.adapters.orm import ClientEventRecord, ClientRecord, platform
from services.registry.app import build_context, event_handlers, run_jobs
from services.registry.domain.value import ValueRules
from services.registry.rules import rules_from_settings
from shared.bus import topology
from shared.bus.consumer import EventConsumer
from shared.bus.dlq import list_dead_letters
from shared.bus.envelope import SERIALIZER, Event
from shared.events import validate_data
from shared.clock import as_utc
from tests.registry.conftest import deliver, published, register
from tests.registry.registry_events import short_type
from tests.shared.bus_helpers import running, wait_for

MINUS = "\u2212"


def ledger_of(ctx, client_id):
    with ctx.database.transaction() as session:
        from services.registry.adapters.orm import SatisfactionEntryRecord
        rows = session.execute(select(SatisfactionEntryRecord)
                               .where(SatisfactionEntryRecord.client_id == client_id)
                               .order_by(SatisfactionEntryRecord.position)).scalars().all()
        return [(row.event_type, None if row.delta is None else str(row.delta), str(row.value),
                 row.reason) for row in rows]


def client_row(ctx, client_id) -> ClientRecord:
    with ctx.database.transaction() as session:
        return session.get(ClientRecord, client_id)


def test_a_complaint_lowers_satisfaction_from_the_baseline_and_publishes_both_changes(registry_ctx, bus):
    client = register(registry_ctx, annual_value={"amount": "150000.00", "currency": "CNY"})
    opened = bus.opened(client.id, "high", ref="CMP-000042")

    assert deliver(registry_ctx, opened) == [True]

    assert ledger_of(registry_ctx, client.id) == [(
        "complaint.opened", "-10.00", "60.00",
        f"Complaint CMP-000042 (high) opened: {MINUS}10 (from the baseline of 70, as no "
        "satisfaction was measured yet)")]
    satisfaction = published(registry_ctx, "client.satisfaction.changed")
    assert [event["data"] for event in satisfaction] == [{
        "client_id": client.id, "previous": None, "current": 60, "cause":
            {"event_id": opened["id"], "event_type": "complaint.opened"},
        "reason": satisfaction[0]["data"]["reason"]}]
    value = published(registry_ctx, "client.value.changed")
    assert len(value) == 1
    # S 60, C = 100 − 25 (open high) − 5 (one in 90 days) = 70 → 0.6 × 60 + 0.4 × 70 = 64.0
    assert value[0]["data"] | {"open_complaints": None} == {
        "client_id": client.id, "tier": "B",
        "annual_value": {"amount": "150000.00", "currency": "CNY"},
        "health_score": 64, "health_band": "at_risk", "previous_band": "healthy",
        "previous_tier": "B", "previous_health_score": 82,
        "value_at_risk": {"amount": "75000.00", "currency": "CNY"},
        "complaints_90d": 1, "open_complaints": None,
        "cause": {"event_id": opened["id"], "event_type": "complaint.opened"}}
    for event in satisfaction + value:
        validate_data(event["type"][len("clientloop."):-len(".v1")], event["data"])
    row = client_row(registry_ctx, client.id)
    assert (row.satisfaction, row.health_score, row.health_band, row.open_high,
            row.complaints_90d, row.value_at_risk) == (60, Decimal("64.0"), "at_risk", 1, 1, 75000)


def test_the_same_event_twice_changes_nothing_even_past_the_inbox(registry_ctx, bus):
    client = register(registry_ctx)
    opened = bus.opened(client.id, "medium")
    deliver(registry_ctx, opened)
    before = (ledger_of(registry_ctx, client.id), len(published(registry_ctx)))

    assert deliver(registry_ctx, opened) == [False]  # the inbox remembers it
    with registry_ctx.database.transaction() as session:  # and so does the client's record
        assert records.apply_event(session, Event.from_envelope(opened), now=registry_ctx.clock(),
                                   rules=registry_ctx.extras["rules"]) is False

    assert (ledger_of(registry_ctx, client.id), len(published(registry_ctx))) == before


def test_a_resolution_arriving_before_its_opening_is_applied_with_its_own_severity(registry_ctx, bus, clock):
    late, in_order = register(registry_ctx, "Late"), register(registry_ctx, "In order")
    at = clock.now - timedelta(days=3)

    def story(client_id):
        ref = bus.new_ref()
        return (bus.opened(client_id, "critical", ref=ref, at=at),
                bus.resolved(client_id, "critical", ref=ref, within_sla=False, at=at + timedelta(hours=5)))

    opening, resolution = story(late.id)
    deliver(registry_ctx, resolution)
    # alone, the resolution is applied on the baseline with its own severity: 70 + 0.25 × 20
    assert [entry[2] for entry in ledger_of(registry_ctx, late.id)] == ["75.00"]
    assert client_row(registry_ctx, late.id).open_critical == 0  # never below 0

    deliver(registry_ctx, opening)
    deliver(registry_ctx, *story(in_order.id))

    assert [entry[:3] for entry in ledger_of(registry_ctx, late.id)] == [
        ("complaint.opened", "-20.00", "50.00"), ("complaint.resolved", "5.00", "55.00")]
    assert [entry[:3] for entry in ledger_of(registry_ctx, late.id)] == \
        [entry[:3] for entry in ledger_of(registry_ctx, in_order.id)]
    late_row, ordered_row = client_row(registry_ctx, late.id), client_row(registry_ctx, in_order.id)
    for column in ("satisfaction", "health_score", "health_band", "open_critical", "complaints_90d"):
        assert getattr(late_row, column) == getattr(ordered_row, column), column


def test_a_late_event_takes_its_place_and_later_values_are_recomputed(registry_ctx, bus, clock):
    client = register(registry_ctx)
    day = timedelta(days=1)
    first = bus.survey(client.id, 80, at=clock.now - 5 * day)
    last = bus.survey(client.id, 100, at=clock.now - day)
    deliver(registry_ctx, first, last)
    assert [entry[2] for entry in ledger_of(registry_ctx, client.id)] == ["80.00", "86.00"]

    deliver(registry_ctx, bus.opened(client.id, "high", at=clock.now - 3 * day))

    # 80 → 70 (complaint) → 70 + 0.3 × (100 − 70) = 79
    assert [entry[2] for entry in ledger_of(registry_ctx, client.id)] == ["80.00", "70.00", "79.00"]
    changed = published(registry_ctx, "client.satisfaction.changed")[-1]["data"]
    assert (changed["previous"], changed["current"], changed["delta"]) == (86, 79, -7)


def test_reasons_read_as_sentences(registry_ctx, bus, clock):
    client = register(registry_ctx)
    ref = "CMP-000007"
    at = clock.now - timedelta(days=10)
    deliver(registry_ctx,
            bus.survey(client.id, 90, at=at),
            bus.opened(client.id, "medium", ref=ref, at=at + timedelta(days=1)),
            bus.reclassified(client.id, "medium", "high", ref=ref, at=at + timedelta(days=2)),
            bus.resolved(client.id, "high", ref=ref, at=at + timedelta(days=3)),
            bus.reopened(client.id, "high", ref=ref, at=at + timedelta(days=4)),
            bus.resolved(client.id, "high", ref=ref, within_sla=False, at=at + timedelta(days=5)),
            bus.survey(client.id, 20, at=at + timedelta(days=6)))

    assert [entry[3] for entry in ledger_of(registry_ctx, client.id)] == [
        "Survey response scored 90: first satisfaction measure, set to 90",
        f"Complaint {ref} (medium) opened: {MINUS}5",
        f"Complaint {ref} reclassified from medium to high: {MINUS}5",
        f"Complaint {ref} (high) resolved within SLA: +5",
        f"Complaint {ref} (high) reopened: {MINUS}10",
        f"Complaint {ref} (high) resolved after its SLA: +2.5",
        "Survey response scored 20: satisfaction 77.5 \u2192 60.25",
    ]


def test_a_survey_without_a_score_adds_no_entry_and_publishes_nothing(registry_ctx, bus):
    client = register(registry_ctx)
    before = len(published(registry_ctx))

    assert deliver(registry_ctx, bus.survey(client.id, None)) == [True]

    assert ledger_of(registry_ctx, client.id) == []
    assert len(published(registry_ctx)) == before


def test_satisfaction_is_clamped_and_an_unchanged_value_publishes_nothing(registry_ctx, bus, clock):
    client = register(registry_ctx)
    at = clock.now - timedelta(days=30)
    deliver(registry_ctx, *[bus.opened(client.id, "critical", at=at + timedelta(hours=i)) for i in range(4)])
    assert [entry[2] for entry in ledger_of(registry_ctx, client.id)] == ["50.00", "30.00", "10.00", "0.00"]
    count = len(published(registry_ctx, "client.satisfaction.changed"))

    deliver(registry_ctx, bus.opened(client.id, "low", at=at + timedelta(hours=5)))

    assert ledger_of(registry_ctx, client.id)[-1][1:3] == ("0.00", "0.00")
    assert "satisfaction stops at 0" in ledger_of(registry_ctx, client.id)[-1][3]
    assert len(published(registry_ctx, "client.satisfaction.changed")) == count


def test_an_event_for_an_unknown_client_raises_so_the_runner_retries_it(registry_ctx, bus):
    event = Event.from_envelope(bus.opened("00000000-0000-4000-8000-000000000000"))
    with pytest.raises(records.UnknownClientEvent):
        with registry_ctx.database.transaction() as session:
            records.apply_event(session, event, now=registry_ctx.clock(),
                                rules=registry_ctx.extras["rules"])
    with registry_ctx.database.transaction() as session:
        assert session.execute(select(func.count(ClientEventRecord.id))).scalar_one() == 0


def test_an_event_for_an_unknown_client_ends_in_the_dead_letter_queue(registry_ctx, bus):
    envelope = bus.opened("00000000-0000-4000-8000-000000000000")
    broker = registry_ctx.settings.broker_url
    with topology.connection_for(broker) as connection:
        topology.declare(connection)
        Producer(connection.default_channel, serializer=SERIALIZER).publish(
            envelope, exchange=topology.EXCHANGE_NAME, routing_key="complaint.opened", declare=[])
    consumer = EventConsumer("registry", registry_ctx.database, platform, broker,
                             event_handlers(registry_ctx), retry_delays_s=(0.01, 0.01))
    with running(consumer):
        assert wait_for(lambda: [letter.event_id for letter in list_dead_letters(broker, "registry")]
                        == [envelope["id"]], timeout=10)
    assert "UnknownClientEvent" in list_dead_letters(broker, "registry")[0].error


def test_a_changed_annual_value_moves_the_value_record_with_client_updated_as_cause(registry_ctx, bus):
    client = register(registry_ctx, annual_value={"amount": "50000.00", "currency": "CNY"})
    deliver(registry_ctx, bus.opened(client.id, "critical"))  # S 50, C 70 → 58.0 at_risk

    with registry_ctx.database.transaction() as session:
        registry_service.update_client(session, client.id,
                                       {"annual_value": {"amount": "1000000.00", "currency": "CNY"}},
                                       expected_version=None, now=registry_ctx.clock(),
                                       rules=registry_ctx.extras["rules"])

    updated = published(registry_ctx, "client.updated")[-1]
    value = published(registry_ctx, "client.value.changed")[-1]["data"]
    assert value["cause"] == {"event_id": updated["id"], "event_type": "client.updated"}
    assert (value["tier"], value["previous_tier"], value["health_band"]) == ("A", "C", "at_risk")
    assert value["value_at_risk"] == {"amount": "500000.00", "currency": "CNY"}
    validate_data("client.value.changed", value)

    count = len(published(registry_ctx, "client.value.changed"))
    with registry_ctx.database.transaction() as session:  # same tier, same health: no value event
        registry_service.update_client(session, client.id,
                                       {"annual_value": {"amount": "1200000.00", "currency": "CNY"}},
                                       expected_version=None, now=registry_ctx.clock(),
                                       rules=registry_ctx.extras["rules"])
    assert len(published(registry_ctx, "client.value.changed")) == count
    assert client_row(registry_ctx, client.id).value_at_risk == 600000


def test_the_job_moves_the_90_day_window_once_and_publishes_with_no_cause(registry_ctx, bus, clock):
    client = register(registry_ctx, annual_value={"amount": "200000.00", "currency": "CNY"})
    ref = bus.new_ref()
    opened_at = clock.now - timedelta(days=90) + timedelta(hours=1)
    deliver(registry_ctx, bus.opened(client.id, "low", ref=ref, at=opened_at),
            bus.resolved(client.id, "low", ref=ref, at=opened_at + timedelta(minutes=30)))
    assert client_row(registry_ctx, client.id).complaints_90d == 1
    assert run_jobs(registry_ctx, clock.now)["recomputed"] == 0  # nothing moved yet

    clock.advance(hours=1)  # exactly 90 days after the opening: still counted
    assert run_jobs(registry_ctx, clock.now)["recomputed"] == 0
    clock.advance(seconds=1)
    count = len(published(registry_ctx, "client.value.changed"))
    assert run_jobs(registry_ctx, clock.now)["recomputed"] == 1
    assert run_jobs(registry_ctx, clock.now)["recomputed"] == 0

    row = client_row(registry_ctx, client.id)
    assert (row.complaints_90d, row.window_moves_at) == (0, None)
    moved = published(registry_ctx, "client.value.changed")[count:]
    # S 69, C 95 → 79.4; then C 100 → 81.4: the score moved, the band did not
    assert [(event["data"]["health_score"], event["data"]["cause"]) for event in moved] == [(81.4, None)]
    validate_data("client.value.changed", moved[0]["data"])


def test_two_jobs_at_once_publish_each_window_move_once(registry_ctx, bus, clock):
    clients = [register(registry_ctx, f"Client {i}") for i in range(6)]
    for client in clients:
        deliver(registry_ctx, bus.opened(client.id, "high", at=clock.now - timedelta(days=89)))
    clock.advance(days=2)
    count = len(published(registry_ctx, "client.value.changed"))
    threads = [threading.Thread(target=run_jobs, args=(registry_ctx, clock.now)) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    moved = published(registry_ctx, "client.value.changed")[count:]
    assert sorted(event["subject"] for event in moved) == sorted(client.id for client in clients)


def test_new_rules_refold_every_client_at_the_next_job(registry_ctx, settings, bus, clock):
    client = register(registry_ctx)
    deliver(registry_ctx, bus.opened(client.id, "high"))
    assert client_row(registry_ctx, client.id).health_band == "at_risk"  # 64.0

    stricter = build_context(settings, clock=clock, rules=rules_from_settings(
        settings, value=ValueRules(at_risk_from=40, healthy_from=60)))
    try:
        assert run_jobs(stricter, clock.now)["recomputed"] == 1
        assert run_jobs(stricter, clock.now)["recomputed"] == 0
    finally:
        stricter.database.dispose()
    assert client_row(registry_ctx, client.id).health_band == "healthy"
    assert published(registry_ctx, "client.value.changed")[-1]["data"]["cause"] is None


def test_malformed_event_data_is_refused_before_anything_changes(registry_ctx, bus):
    client = register(registry_ctx)
    envelope = bus.opened(client.id)
    envelope["data"]["severity"] = "apocalyptic"
    with pytest.raises(Exception) as refused:
        with registry_ctx.database.transaction() as session:
            records.apply_event(session, Event.from_envelope(envelope), now=registry_ctx.clock(),
                                rules=registry_ctx.extras["rules"])
    assert "data.severity" in refused.value.errors
    assert ledger_of(registry_ctx, client.id) == []


def stored_rows(ctx, client_id):
    with ctx.database.transaction() as session:
        return {row.event_type: row for row in session.execute(
            select(ClientEventRecord).where(ClientEventRecord.client_id == client_id)).scalars()}


def test_what_the_client_page_shows_is_kept_with_each_applied_event(registry_ctx, bus, clock):
    client = register(registry_ctx)
    resolve_by = clock.now + timedelta(hours=70)
    opened = bus.opened(client.id, "high", ref="CMP-000001", resolve_by=resolve_by)
    survey = bus.survey(client.id, 80, comment="发票开得很快，谢谢。")
    deliver(registry_ctx, opened, survey)

    rows = stored_rows(registry_ctx, client.id)
    opening = rows["complaint.opened"]
    assert (opening.complaint_id, as_utc(opening.resolve_by), opening.comment) == (
        opened["data"]["complaint_id"], resolve_by, None)
    assert (rows["survey.response.submitted"].comment,
            rows["survey.response.submitted"].complaint_id) == ("发票开得很快，谢谢。", None)


def test_waiting_and_resumed_are_kept_for_the_deadline_and_move_no_record(registry_ctx, bus,
                                                                          clock):
    assert {"complaint.waiting", "complaint.resumed"} <= set(event_handlers(registry_ctx))
    client = register(registry_ctx)
    deliver(registry_ctx, bus.opened(client.id, "high", ref="CMP-000001",
                                     at=clock.now - timedelta(hours=3)))
    before = (ledger_of(registry_ctx, client.id), len(published(registry_ctx)),
              client_row(registry_ctx, client.id).records_at)
    clock.advance(minutes=5)   # a re-fold now would stamp the client row with this time
    moved = clock.now + timedelta(days=4)
    waiting = bus.waiting(client.id, ref="CMP-000001", at=clock.now - timedelta(hours=2),
                          resolve_by=clock.now + timedelta(days=3))
    resumed = bus.resumed(client.id, ref="CMP-000001", at=clock.now - timedelta(hours=1),
                          resolve_by=moved)
    for envelope in (waiting, resumed):
        validate_data(short_type(envelope), envelope["data"])

    assert deliver(registry_ctx, waiting, resumed, resumed) == [True, True, False]
    assert (ledger_of(registry_ctx, client.id), len(published(registry_ctx)),
            client_row(registry_ctx, client.id).records_at) == before
    assert as_utc(stored_rows(registry_ctx, client.id)["complaint.resumed"].resolve_by) == moved


def test_erasure_clears_the_comments_and_a_comment_arriving_later_is_not_kept(registry_ctx, bus,
                                                                              clock):
    client = register(registry_ctx)
    deliver(registry_ctx, bus.survey(client.id, 40, comment="王芳: the invoice was wrong",
                                     at=clock.now - timedelta(days=1)),
            bus.survey(client.id, None, comment="Call me on +86 138 0000 0000"))
    with registry_ctx.database.transaction() as session:
        registry_service.erase_client(session, client.id, expected_version=None, now=clock.now)
    late = bus.survey(client.id, 90, comment="王芳 again", at=clock.now - timedelta(hours=1))
    assert deliver(registry_ctx, late) == [True]

    with registry_ctx.database.transaction() as session:
        rows = session.execute(select(ClientEventRecord.score, ClientEventRecord.comment)
                               .where(ClientEventRecord.client_id == client.id)
                               .order_by(ClientEventRecord.occurred_at)).all()
    assert [(row.score, row.comment) for row in rows] == [("40", None), ("90", None), (None, None)]
