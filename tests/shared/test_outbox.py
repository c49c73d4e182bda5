"""``record_event`` and ``record_events``: on PostgreSQL one statement (sequences, outbox rows,
NOTIFY), on SQLite the same steps apart — and on both the envelopes returned are the rows
stored, and each subject's sequence runs 1, 2, 3… without gaps or duplicates whatever the
concurrency. And the relay reads the outbox once for a pass that found less than a batch."""
from __future__ import annotations

import json
import threading
import uuid
from datetime import datetime, timezone

import pytest
from sqlalchemy import event, select

from services.registry.adapters.orm import platform
from shared.bus.outbox import notify_channel, record_event, record_events
from shared.db import Database
from shared.migrations import upgrade


@pytest.fixture(params=["postgresql", "sqlite"])
def database(request, tmp_path):
    url = (request.getfixturevalue("postgres_url") if request.param == "postgresql"
           else f"sqlite:///{tmp_path / 'outbox.db'}")
    upgrade("registry", url)
    db = Database(url)
    yield db
    db.dispose()


def data(subject: str, number: int) -> dict:
    return {"client_id": subject, "name": f"华为 \"Huawei\" {number}",
            "note": '"sequence":"00000000000000000000"',
            # what the stored body must keep exactly, whatever the statement passes it through
            "text": 'back\\slash \\u0000 "quoted" {"a": [1, "]"]}\n\ttab 😀 ,\'single\' NULL'}


def at(number: int) -> datetime:
    return datetime(2025, 3, 3, 9, 0, number % 60, tzinfo=timezone.utc)


def record(session, subject: str, number: int = 0) -> dict:
    return record_event(session, platform, service="registry", event_type="client.updated",
                        subject=subject, time=at(number), data=data(subject, number))


def record_several(session, subjects: list[str], number: int = 0) -> list[dict]:
    return record_events(session, platform, service="registry", time=at(number), events=[
        ("client.updated", subject, data(subject, number)) for subject in subjects])


def stored(database) -> dict[str, str]:
    table = platform.outbox
    with database.transaction() as session:
        return dict(session.execute(select(table.c.event_id, table.c.body)).all())


def test_the_stored_body_is_the_returned_envelope_with_its_subjects_next_sequence(database):
    subject, other = str(uuid.uuid4()), str(uuid.uuid4())
    with database.transaction() as session:
        first = record(session, subject, 1)
        second = record(session, subject, 2)
        elsewhere = record(session, other, 3)
    assert [first["sequence"], second["sequence"], elsewhere["sequence"]] == \
        ["1".zfill(20), "2".zfill(20), "1".zfill(20)]
    bodies = stored(database)
    for envelope in (first, second, elsewhere):
        assert bodies[envelope["id"]] == json.dumps(envelope, ensure_ascii=False,
                                                    separators=(",", ":"))
    assert first["data"]["note"] == '"sequence":"00000000000000000000"'  # untouched


def test_several_events_take_their_subjects_numbers_in_order_and_are_stored_as_returned(database):
    a, b = str(uuid.uuid4()), str(uuid.uuid4())
    with database.transaction() as session:
        first = record(session, a)
        several = record_several(session, [a, b, a, a])
    assert [envelope["subject"] for envelope in several] == [a, b, a, a]
    assert [int(envelope["sequence"]) for envelope in [first, *several]] == [1, 2, 1, 3, 4]
    bodies = stored(database)
    for envelope in [first, *several]:
        assert bodies[envelope["id"]] == json.dumps(envelope, ensure_ascii=False,
                                                    separators=(",", ":"))
    table = platform.outbox
    with database.transaction() as session:
        in_id_order = session.execute(select(table.c.event_id).order_by(table.c.id)).scalars().all()
    assert in_id_order == [envelope["id"] for envelope in [first, *several]]


@pytest.mark.parametrize("write", [record, lambda session, subject: record_several(
    session, [subject, str(uuid.uuid4()), subject])], ids=["one event", "several events"])
def test_on_postgresql_one_statement_records_the_events_and_notifies_at_commit(
        postgres_url, write):
    import psycopg
    upgrade("registry", postgres_url)
    database = Database(postgres_url)
    statements: list[str] = []
    event.listen(database.engine, "before_cursor_execute",
                 lambda _conn, _cursor, statement, *_rest: statements.append(statement))
    listener = psycopg.connect(postgres_url, autocommit=True)
    try:
        listener.execute(f'LISTEN "{notify_channel("registry")}"')
        with database.transaction() as session:
            written = write(session, str(uuid.uuid4()))
            assert len(statements) == 1, statements
        heard = [notice.channel for notice in listener.notifies(timeout=5, stop_after=1)]
        assert heard == [notify_channel("registry")]
        bodies = stored(database)
        for envelope in written if isinstance(written, list) else [written]:
            assert bodies[envelope["id"]] == json.dumps(
                envelope, ensure_ascii=False, separators=(",", ":"))
    finally:
        listener.close()
        database.dispose()


def test_concurrent_writers_of_one_subject_get_every_number_once(database):
    subject = str(uuid.uuid4())
    threads_count, each = 6, 15
    returned: list[dict] = []
    failures: list[BaseException] = []
    start = threading.Barrier(threads_count)

    def writer(number: int) -> None:
        try:
            start.wait(10)
            for turn in range(each):
                with database.transaction() as session:
                    if turn % 2:
                        written = record_several(session, [subject, str(uuid.uuid4()), subject],
                                                 number)
                        returned.extend(envelope for envelope in written
                                        if envelope["subject"] == subject)
                    else:
                        returned.append(record(session, subject, number))
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)

    threads = [threading.Thread(target=writer, args=(number,)) for number in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not failures, failures
    total = threads_count * (each + each // 2)  # two for the subject every other turn
    assert sorted(int(envelope["sequence"]) for envelope in returned) == list(range(1, total + 1))
    bodies = stored(database)
    for envelope in returned:
        assert json.loads(bodies[envelope["id"]])["sequence"] == envelope["sequence"]


def test_a_relay_pass_reads_the_outbox_once_when_it_found_less_than_a_batch(settings):
    """A committed row wakes the relay (NOTIFY or the in-process signal): a pass that read
    fewer rows than a batch has published everything there was, and does not read again."""
    from shared.bus.relay import Relay
    from tests.shared.bus_helpers import register, registry_context
    ctx = registry_context(settings)
    try:
        register(ctx, "Once")
        register(ctx, "Twice")
        reads: list[str] = []
        event.listen(ctx.database.engine, "before_cursor_execute",
                     lambda _conn, _cursor, statement, *_rest: reads.append(statement)
                     if statement.lstrip().upper().startswith("SELECT") and "outbox" in statement
                     else None)
        relay = Relay("registry", ctx.database, platform, ctx.settings.broker_url, batch_size=10)
        try:
            assert relay.publish_pending() == 2
            assert len(reads) == 1
            assert relay.publish_pending() == 0
        finally:
            relay.close()
    finally:
        ctx.database.dispose()


def test_the_active_relay_on_postgresql_reads_and_marks_on_its_own_connection(
        settings, postgres_url, rabbitmq_url):
    """The leader's connection (advisory lock, LISTEN) runs the pass's two statements: no
    pool checkout, ping, BEGIN or COMMIT per pass."""
    from shared.bus.relay import Relay
    from tests.shared.bus_helpers import register, registry_context
    ctx = registry_context(settings.with_overrides(
        broker_url=rabbitmq_url,
        database_urls={**settings.database_urls, "registry": postgres_url}))
    relay = Relay("registry", ctx.database, platform, rabbitmq_url, batch_size=10)
    try:
        register(ctx, "Leader")
        assert relay._acquire_leadership()
        pooled: list[str] = []
        event.listen(ctx.database.engine, "before_cursor_execute",
                     lambda _conn, _cursor, statement, *_rest: pooled.append(statement))
        assert relay.publish_pending() == 1
        assert pooled == []
        table = platform.outbox
        with ctx.database.transaction() as session:
            sent = session.execute(select(table.c.sent_at)).scalars().all()
        assert sent and all(moment is not None for moment in sent)
        assert relay.publish_pending() == 0
    finally:
        relay.close()
        ctx.database.dispose()


def test_the_relays_marks_find_their_rows_by_the_primary_key_as_the_outbox_grows(
        settings, postgres_url, rabbitmq_url):
    """The leader's ``sent_at`` mark, prepared by psycopg after a few passes on a small outbox,
    still finds its rows through the primary key once the outbox holds thousands: its plan was
    a sequential scan kept from the outbox's first rows while the ids went as ``smallint[]``."""
    from shared.bus.relay import Relay
    from tests.shared.bus_helpers import register, registry_context
    ctx = registry_context(settings.with_overrides(
        broker_url=rabbitmq_url,
        database_urls={**settings.database_urls, "registry": postgres_url}))
    relay = Relay("registry", ctx.database, platform, rabbitmq_url, batch_size=10)
    try:
        assert relay._acquire_leadership()
        for number in range(20):   # a pass a row: psycopg prepares the mark at the sixth,
            # the server weighs a generic plan after five more
            register(ctx, f"Client {number}")
            assert relay.publish_pending() == 1
        table = platform.outbox
        with ctx.database.transaction() as session:   # the outbox grows, already sent
            session.execute(table.insert(), [
                {"event_id": f"bulk-{number}", "event_type": "client.registered",
                 "subject": f"bulk-{number}", "body": "{}" + " " * 900,
                 "created_at": ctx.clock(), "sent_at": ctx.clock()} for number in range(5000)])
        register(ctx, "Last")
        assert relay.publish_pending() == 1
        marks = [name for name, statement in relay._listener.execute(
            "SELECT name, statement FROM pg_prepared_statements").fetchall()
            if statement.startswith(f"UPDATE {table.name} SET sent_at")]
        assert len(marks) == 1
        last = relay._listener.execute(f"SELECT max(id) FROM {table.name}").fetchone()[0]
        relay._listener.execute("BEGIN")
        plan = "\n".join(row[0] for row in relay._listener.execute(
            f"EXPLAIN EXECUTE {marks[0]}(now(), ARRAY[{last}]::smallint[])").fetchall())
        relay._listener.execute("ROLLBACK")
        assert "Seq Scan" not in plan and "using pk_outbox" in plan, plan
    finally:
        relay.close()
        ctx.database.dispose()


def test_on_sqlite_a_relay_reads_its_outbox_without_the_write_lock(settings):
    """SQLite has one write lock per file, which every transaction of the services takes first:
    the relay's read of its pending rows is a plain snapshot instead, so it neither waits for a
    writer nor holds one up; only marking rows sent takes the lock."""
    import sqlite3

    from shared.bus.relay import Relay
    from tests.shared.bus_helpers import register, registry_context
    ctx = registry_context(settings)
    holder = None
    try:
        assert ctx.database.dialect == "sqlite"
        register(ctx, "Pending")
        relay = Relay("registry", ctx.database, platform, ctx.settings.broker_url, batch_size=10)
        holder = sqlite3.connect(ctx.database.engine.url.database, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")                # another writer holds the lock
        read: list = []
        reader = threading.Thread(target=lambda: read.append(relay._pending(set())))
        reader.start()
        reader.join(3)
        alive = reader.is_alive()
        holder.execute("COMMIT")
        reader.join(35)
        assert not alive and len(read[0]) == 1 and read[0][0].subject
        relay.close()
    finally:
        if holder is not None:
            holder.close()
        ctx.database.dispose()
