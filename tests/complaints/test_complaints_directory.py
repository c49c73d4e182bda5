"""The local client directory, fed only by registry events, in any delivery order."""
from __future__ import annotations

import json
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import event as sa_event
from sqlalchemy import select

from services.complaints.adapters.orm import KnownClientRecord, TimelineEntryRecord, platform
from services.complaints.app import build_context, event_handlers, run_jobs
from services.complaints.consumers import MalformedClientEvent
from shared.bus.consumer import apply_batch
from shared.bus.envelope import Event
from shared.clock import as_utc
from shared.migrations import upgrade
from tests.complaints.complaints_helpers import (START, client_data, client_event,
                                                 outbox_events, register_client,
                                                 settings_on_dialect)

LATER = START + timedelta(hours=1)
LATEST = START + timedelta(hours=2)


def known(ctx, client_id) -> KnownClientRecord | None:
    with ctx.database.transaction() as session:
        return session.get(KnownClientRecord, client_id)


def test_a_registered_client_is_known_with_its_tier(complaints_ctx):
    client_id = register_client(complaints_ctx, tier="A", name="Acme")

    entry = known(complaints_ctx, client_id)

    assert (entry.name, entry.tier, entry.status, entry.registered) == ("Acme", "A", "active",
                                                                        True)


def test_the_same_event_twice_changes_nothing(complaints_ctx):
    client_id = str(uuid.uuid4())
    event_id = str(uuid.uuid4())
    data = client_data(client_id, tier="B")

    assert client_event(complaints_ctx, "client.registered", data, subject=client_id,
                        event_id=event_id) is True
    assert client_event(complaints_ctx, "client.registered", data, subject=client_id,
                        event_id=event_id) is False


def test_a_value_change_before_the_registration_is_not_lost(complaints_ctx, api):
    client_id = str(uuid.uuid4())
    client_event(complaints_ctx, "client.value.changed", {"client_id": client_id, "tier": "A"},
                 subject=client_id, at=LATER)
    client_event(complaints_ctx, "client.registered", client_data(client_id, tier="C"),
                 subject=client_id, at=START)

    entry = known(complaints_ctx, client_id)
    assert (entry.tier, entry.registered, entry.name) == ("A", True, "华为 Huawei")
    assert api.opened(client_id=client_id, severity="critical")["client_tier"] == "A"


def test_an_older_update_never_overwrites_a_newer_one(complaints_ctx):
    client_id = register_client(complaints_ctx, name="Old name", tier="C", at=START)
    client_event(complaints_ctx, "client.updated", client_data(client_id, name="New", tier="A"),
                 subject=client_id, at=LATEST)
    client_event(complaints_ctx, "client.updated", client_data(client_id, name="Mid", tier="B"),
                 subject=client_id, at=LATER)
    client_event(complaints_ctx, "client.value.changed", {"client_id": client_id, "tier": "C"},
                 subject=client_id, at=LATER)

    entry = known(complaints_ctx, client_id)
    assert (entry.name, entry.tier) == ("New", "A")


def test_archiving_is_not_undone_by_an_older_update(complaints_ctx):
    client_id = register_client(complaints_ctx, at=START)
    client_event(complaints_ctx, "client.archived", {"client_id": client_id}, subject=client_id,
                 at=LATEST)
    client_event(complaints_ctx, "client.updated", client_data(client_id, status="active"),
                 subject=client_id, at=LATER)

    assert known(complaints_ctx, client_id).status == "archived"


def test_erasure_is_final_whatever_arrives_after(complaints_ctx):
    client_id = str(uuid.uuid4())
    client_event(complaints_ctx, "client.erased", {"client_id": client_id}, subject=client_id,
                 at=LATER)
    client_event(complaints_ctx, "client.registered", client_data(client_id, name="Zhang San"),
                 subject=client_id, at=START)
    client_event(complaints_ctx, "client.updated", client_data(client_id, name="Zhang San"),
                 subject=client_id, at=LATEST)

    entry = known(complaints_ctx, client_id)
    assert (entry.status, entry.name) == ("erased", None)


def test_erasure_keeps_complaints_as_anonymous_records(api, complaints_ctx, clock):
    client_id = register_client(complaints_ctx, name="Zhang San")
    other = api.opened(title="Other client's complaint")
    complaint = api.opened(client_id=client_id, title="Zhang San was overcharged",
                           description="Zhang San (138 0000 0000) was charged twice.",
                           remedy_sought="Call Zhang San back")
    api.acted(complaint["id"], "acknowledge", note="Spoke to Zhang San")
    api.acted(complaint["id"], "start")
    api.acted(complaint["id"], "escalate", reason="Zhang San threatens to leave")
    api.patch(complaint["id"], {"description": "Zhang San's card was charged twice."})
    api.note(complaint["id"], "Zhang San's address is …")
    api.acted(complaint["id"], "resolve", summary="Refunded Zhang San",
              root_cause="Duplicate billing run")

    client_event(complaints_ctx, "client.erased", {"client_id": client_id}, subject=client_id)

    body = api.read(complaint["id"])
    assert (body["title"], body["description"], body["remedy_sought"],
            body["resolution_summary"]) == (f"Complaint {body['ref']}", "", None, None)
    assert (body["severity"], body["category"], body["root_cause"], body["status"]) == (
        "medium", "billing", "Duplicate billing run", "resolved")
    assert body["client_erased"] is True and body["version"] > complaint["version"]
    assert "Zhang San" not in str(body)
    with complaints_ctx.database.transaction() as session:
        rows = session.execute(select(TimelineEntryRecord)).scalars().all()
        assert "Zhang San" not in str([(row.note, row.details) for row in rows])
    assert api.read(other["id"])["title"] == "Other client's complaint"
    # the complaint can still be handled, anonymously
    assert api.act(complaint["id"], "close").status_code == 200
    run_jobs(complaints_ctx, clock.now)


def test_erasure_scrubs_stored_replies_and_events_about_the_client_and_keeps_them(
        api, complaints_ctx):
    from sqlalchemy import update
    client_id = register_client(complaints_ctx)
    headers = api.headers(**{"Idempotency-Key": "k1"})
    first = api.open(client_id=client_id, headers=headers, title="Personal title",
                     description="Personal story")
    complaint_id = first.get_json()["id"]
    assert api.act(complaint_id, "acknowledge").status_code == 200
    assert api.act(complaint_id, "escalate", reason="Personal reason").status_code == 200
    table = complaints_ctx.tables
    with complaints_ctx.database.transaction() as session:
        session.execute(update(table.outbox).where(table.outbox.c.event_type == "complaint.opened")
                        .values(sent_at=START))
    before = outbox_events(complaints_ctx)

    client_event(complaints_ctx, "client.erased", {"client_id": client_id}, subject=client_id)

    with complaints_ctx.database.transaction() as session:
        answers = session.execute(select(table.idempotency_key.c.response_body)).scalars().all()
        unsent = session.execute(select(table.outbox.c.event_type)
                                 .where(table.outbox.c.sent_at.is_(None))).scalars().all()
    assert len(answers) == 1 and "Personal" not in answers[0]
    after = outbox_events(complaints_ctx)
    assert [e["id"] for e in after] == [e["id"] for e in before]   # kept: sent and unsent
    assert "complaint.escalated" in unsent
    assert "Personal" not in json.dumps(after, ensure_ascii=False)
    [escalated] = [e for e in after if e["event_type"] == "complaint.escalated"]
    assert escalated["data"]["reason"] == "(erased)" and escalated["data"]["complaint_id"] == complaint_id
    replay = api.open(client_id=client_id, headers=headers, title="Personal title",
                      description="Personal story")
    assert replay.status_code == 201 and replay.get_json()["id"] == complaint_id
    assert replay.get_json()["description"] == "(erased)"


def test_value_changes_applied_as_one_batch_give_what_one_by_one_gives(complaints_ctx):
    """The consumer's batches of ``client.value.changed``: one transaction, one statement
    reading (and locking) every known client, the same directory as one at a time."""
    first, second = register_client(complaints_ctx, tier="C"), register_client(complaints_ctx)
    unknown = str(uuid.uuid4())
    changes = [(first, "B", LATER), (second, "A", LATEST), (first, "A", LATEST),
               (first, "C", LATER), (unknown, "B", LATER), (unknown, "A", LATEST)]
    events = [Event(id=str(uuid.uuid4()), type="client.value.changed",
                    source="clientloop/registry", subject=client_id, time=at, sequence=None,
                    data={"client_id": client_id, "tier": tier})
              for client_id, tier, at in changes]
    statements: list[str] = []
    sa_event.listen(complaints_ctx.database.engine, "before_cursor_execute",
                    lambda _conn, _cursor, statement, *_rest: statements.append(statement))
    assert apply_batch(complaints_ctx.database, platform, event_handlers(complaints_ctx), events,
                       now=LATEST) == [True] * len(events)
    reads = [statement for statement in statements
             if statement.lstrip().startswith("SELECT") and "FROM known_client" in statement]
    assert len(reads) == 3, reads  # all at once, then the unknown client once per event
    assert [(known(complaints_ctx, client_id).tier, known(complaints_ctx, client_id).registered)
            for client_id in (first, second, unknown)] == [("A", True), ("A", True), ("A", False)]


@pytest.fixture(params=["sqlite", "postgresql"])
def directory_ctx(request, settings, clock):
    settings = settings_on_dialect(request, settings)
    upgrade("complaints", settings.database_url("complaints"))
    ctx = build_context(settings, clock=clock)
    yield ctx
    ctx.database.dispose()


def test_a_known_clients_value_change_is_one_update_that_keeps_the_newest_tier(directory_ctx):
    """A value change for a known client is one ``UPDATE`` (no read of the entry first) and
    decides as the entry's own times say: an older change leaves the tier alone but not the
    entry's last event time; a change as new as the tier's own time takes it."""
    ctx = directory_ctx
    client_id = register_client(ctx, tier="C", at=START)
    statements: list[str] = []
    sa_event.listen(ctx.database.engine, "before_cursor_execute",
                    lambda _conn, _cursor, statement, *_rest: statements.append(statement))
    change = {"client_id": client_id, "tier": "A"}
    assert client_event(ctx, "client.value.changed", change, subject=client_id, at=LATEST)
    own = [statement for statement in statements if "known_client" in statement]
    assert len(own) == 1 and own[0].lstrip().startswith("UPDATE known_client"), own

    client_event(ctx, "client.value.changed", {"client_id": client_id, "tier": "B"},
                 subject=client_id, at=LATER)
    entry = known(ctx, client_id)
    assert (entry.tier, as_utc(entry.tier_at), as_utc(entry.last_event_at)) == ("A", LATEST, LATEST)

    client_event(ctx, "client.value.changed", {"client_id": client_id, "tier": "B"},
                 subject=client_id, at=LATEST)
    assert known(ctx, client_id).tier == "B"
    later_still = LATEST + timedelta(minutes=5)
    client_event(ctx, "client.value.changed", {"client_id": client_id, "tier": None},
                 subject=client_id, at=later_still)
    entry = known(ctx, client_id)
    assert (entry.tier, as_utc(entry.tier_at), as_utc(entry.last_event_at)) == (
        None, later_still, later_still)
    assert (entry.name, entry.registered, entry.status) == ("华为 Huawei", True, "active")


def test_a_malformed_value_change_changes_nothing(directory_ctx):
    ctx = directory_ctx
    client_id = register_client(ctx, tier="C", at=START)
    with pytest.raises(MalformedClientEvent):
        client_event(ctx, "client.value.changed", {"client_id": client_id, "tier": "Z"},
                     subject=client_id, at=LATEST)
    entry = known(ctx, client_id)
    assert (entry.tier, as_utc(entry.last_event_at)) == ("C", START)
