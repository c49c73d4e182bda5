"""``shared.erasure``: the platform tables forget a client, and only that client."""
from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone

from sqlalchemy import insert, select

from shared.bus.outbox import record_event
from shared.db import Database, define_platform_tables, new_metadata
from shared.erasure import forget_client, scrub

NOW = datetime(2025, 3, 3, 9, 0, tzinfo=timezone.utc)
FIELDS = ("name", "client_name", "contacts", "comment")


def test_only_objects_about_the_client_are_scrubbed():
    erased, other = str(uuid.uuid4()), str(uuid.uuid4())
    answer = {"items": [
        {"id": "i1", "client_id": erased, "client_name": "Zhou", "language": "en"},
        {"id": "i2", "client_id": other, "client_name": "Wang", "language": "en"}]}
    assert scrub(answer, erased, FIELDS) == {"items": [
        {"id": "i1", "client_id": erased, "client_name": "(erased)", "language": "en"},
        {"id": "i2", "client_id": other, "client_name": "Wang", "language": "en"}]}
    envelope = {"id": "e1", "subject": erased, "data": {
        "client": {"id": erased, "name": "Zhou", "contacts": [{"name": "Zhou", "email": "z@x"}],
                   "owner": None, "tier": "B"}, "comment": None}}
    assert scrub(envelope, erased, FIELDS)["data"] == {
        "client": {"id": erased, "name": "(erased)", "contacts": [], "owner": None, "tier": "B"},
        "comment": None}


def test_answers_and_events_are_scrubbed_in_place_and_unsent_events_stay_unsent(tmp_path):
    metadata = new_metadata()
    tables = define_platform_tables(metadata)
    database = Database(f"sqlite:///{tmp_path / 'db.sqlite'}")
    metadata.create_all(database.engine)
    erased, other = str(uuid.uuid4()), str(uuid.uuid4())
    with database.transaction() as session:
        for index, body in enumerate((
                json.dumps({"id": erased, "name": "Zhou"}), f"not json {erased}",
                json.dumps({"id": other, "name": "Wang"}))):
            session.execute(insert(tables.idempotency_key).values(
                scope="s", key=f"k{index}", request_hash="h", status_code=201,
                response_body=body, created_at=NOW))
        for client_id, comment in ((erased, "Zhou's words"), (other, "Wang's words")):
            record_event(session, tables, service="survey", event_type="survey.response.submitted",
                         subject=client_id, data={"client_id": client_id, "comment": comment},
                         time=NOW)

    with database.transaction() as session:
        forgotten = forget_client(session, tables, erased, personal_fields=FIELDS)

    assert (forgotten.answers_scrubbed, forgotten.answers_deleted, forgotten.events_scrubbed) \
        == (1, 1, 1)
    with database.transaction() as session:
        answers = session.execute(select(tables.idempotency_key.c.key,
                                         tables.idempotency_key.c.response_body)
                                  .order_by(tables.idempotency_key.c.id)).all()
        events = session.execute(select(tables.outbox.c.subject, tables.outbox.c.body,
                                        tables.outbox.c.sent_at)
                                 .order_by(tables.outbox.c.id)).all()
    assert [key for key, _ in answers] == ["k0", "k2"]
    assert json.loads(answers[0][1]) == {"id": erased, "name": "(erased)"}
    assert json.loads(answers[1][1]) == {"id": other, "name": "Wang"}
    assert [(subject, json.loads(body)["data"]["comment"], sent_at)
            for subject, body, sent_at in events] == [(erased, "(erased)", None),
                                                      (other, "Wang's words", None)]
    database.dispose()


def test_webhook_deliveries_of_the_clients_events_are_scrubbed_too(tmp_path):
    from shared.webhooks import store
    metadata = new_metadata()
    tables = define_platform_tables(metadata)
    database = Database(f"sqlite:///{tmp_path / 'db.sqlite'}")
    metadata.create_all(database.engine)
    erased, other = str(uuid.uuid4()), str(uuid.uuid4())
    with database.transaction() as session:
        endpoint = store.create_endpoint(session, tables, url="https://hooks.example.com/x",
                                         event_types=["*"], description=None, now=NOW)
        for client_id, comment in ((erased, "Zhou's words"), (other, "Wang's words")):
            record_event(session, tables, service="survey", event_type="survey.response.submitted",
                         subject=client_id, data={"client_id": client_id, "comment": comment},
                         time=NOW)
        rows = session.execute(select(tables.outbox.c.event_id, tables.outbox.c.event_type,
                                      tables.outbox.c.subject, tables.outbox.c.body)).all()
        store.insert_deliveries(session, tables, [
            store.new_delivery(endpoint["id"], event_id=row.event_id, event_type=row.event_type,
                               subject=row.subject, body=row.body, now=NOW) for row in rows])

    with database.transaction() as session:
        forgotten = forget_client(session, tables, erased, personal_fields=FIELDS)
        bodies = dict(session.execute(select(tables.webhook_delivery.c.subject,
                                             tables.webhook_delivery.c.body)).all())
    assert forgotten.deliveries_scrubbed == 1
    assert json.loads(bodies[erased])["data"]["comment"] == "(erased)"
    assert json.loads(bodies[other])["data"]["comment"] == "Wang's words"
    database.dispose()
