"""Results overall and by month are read from daily tallies (``response_tally``,
``invitation_tally``) that database triggers keep; they must always equal the rows counted
(``results(…, from_rows=True)``), whatever wrote the rows: the service, plain SQL inserts
(one row or many per statement, without the ``nps``/``csat``/``ces`` columns, which a trigger
then fills from the answers), updates moving a row to another day or survey, deletes,
erasure, concurrent writers, and the migration's count of the rows stored before it. On
SQLite and PostgreSQL alike (``survey_settings`` below)."""
from __future__ import annotations

import random
import threading
import uuid
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy import func, insert, select, text

from services.survey import results, service
from services.survey.adapters.orm import (InvitationRecord, ResponseRecord,
                                          invitation_tally, response_tally)
from services.survey.domain.definition import validate_survey_definition
from services.survey.domain.scoring import FeedbackRules, first_answers
from services.survey.service import SurveyRules
from shared.db import Database, UTCDateTime
from shared.migrations import alembic_config, upgrade
from tests.survey.integration.test_survey_response_first_answers import (CASES, NO_CES,
                                                                         QUESTIONS, fields)
from tests.survey.survey_support import client_event, deliver, survey_fields

#: The revision before the tallies.
BEFORE_TALLIES = "6e59aa8406f6"
START = datetime(2025, 10, 20, tzinfo=timezone.utc)
DAYS = 160
# UTC, and zones whose days start at 18:30 and 18:15 UTC, and at 05:00 or 04:00 UTC (summer
# time begins on 2025-03-08 and ends on 2025-11-02 within the data).
ZONES = ["UTC", "Asia/Kolkata", "Asia/Kathmandu", "America/New_York"]
# Moments where a period may be cut: UTC midnight and the zones' midnights.
EDGES = [timedelta(0), timedelta(hours=18, minutes=30), timedelta(hours=18, minutes=15),
         timedelta(hours=5), timedelta(hours=4)]
PERIODS = [(None, None), (date(2025, 11, 1), date(2025, 11, 30)),
           (date(2026, 3, 8), date(2026, 3, 8)), (date(2025, 12, 15), None),
           (None, date(2026, 1, 10)), (date(2026, 1, 1), date(2026, 2, 28))]
# The usual bands, others, and bands beyond the scales (counted from the rows).
BANDS = [FeedbackRules(), FeedbackRules(promoter_min=8, detractor_max=5, csat_satisfied_min=3),
         FeedbackRules(promoter_min=11, detractor_max=-1, csat_satisfied_min=1)]

# Plain tables: statements on them are what any SQL client would send, no service code.
RESPONSE = sa.table("survey_response", *(sa.column(name) for name in (
    "id", "survey_id", "invitation_id", "client_id", "language", "scoring_version", "nps",
    "csat", "ces")), sa.column("answers", sa.JSON), sa.column("score", sa.Numeric(5, 2)),
    sa.column("submitted_at", UTCDateTime()))
INVITATION = sa.table("invitation", *(sa.column(name) for name in (
    "id", "survey_id", "client_id", "language", "created_by", "link_base", "delivery",
    "delivery_status", "delivery_attempts", "version")),
    *(sa.column(name, UTCDateTime()) for name in ("created_at", "expires_at", "answered_at")))
SURVEY = sa.table("survey", *(sa.column(name) for name in (
    "id", "status", "send_after_complaint_resolved", "version", "created_at", "updated_at")),
    sa.column("definition", sa.JSON))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def survey_settings(request, settings):
    urls = dict(settings.database_urls)
    if request.param == "postgresql":
        urls["survey"] = request.getfixturevalue("postgres_url")
    return settings.with_overrides(ratelimit_public="1000 per minute", database_urls=urls)


def add_survey(connection, questions_fields: dict) -> str:
    survey_id = str(uuid.uuid4())
    connection.execute(insert(SURVEY).values(
        id=survey_id, status="active", definition=questions_fields,
        send_after_complaint_resolved=False, version=1, created_at=START, updated_at=START))
    return survey_id


def invitation_row(survey_id: str, client_id: str, created: datetime,
                   answered: datetime | None) -> dict:
    return dict(id=str(uuid.uuid4()), survey_id=survey_id, client_id=client_id, language="en",
                created_at=created, expires_at=created + timedelta(days=30),
                answered_at=answered, created_by="test", link_base="http://x/survey",
                delivery="none", delivery_status="not_requested", delivery_attempts=0,
                version=1)


def response_row(invitation: dict, answers, score, **first) -> dict:
    return dict(id=str(uuid.uuid4()), survey_id=invitation["survey_id"],
                invitation_id=invitation["id"], client_id=invitation["client_id"],
                language="en", answers=answers, score=score, scoring_version="test",
                submitted_at=invitation["answered_at"], **first)


def expected_first(definition, answers) -> tuple:
    """What the database keeps of the first answers: an integral number, else nothing."""
    found = first_answers(definition, answers if isinstance(answers, dict) else {})
    return tuple(int(value) if isinstance(value, (int, float)) and not isinstance(value, bool)
                 and value == int(value) else None
                 for value in (found.nps, found.csat, found.ces))


def assert_tallied_equals_rows(database: Database, survey_id: str) -> None:
    with database.transaction() as session:
        survey = service.get_survey(session, survey_id)
        for bands in BANDS:
            rules = SurveyRules(feedback=bands)
            for zone in ZONES:
                for start, end in PERIODS:
                    for group_by in (None, "month"):
                        arguments = dict(start=start, end=end, group_by=group_by,
                                         timezone=zone, rules=rules)
                        tallied = results.results(session, survey, **arguments)
                        counted = results.results(session, survey, from_rows=True, **arguments)
                        assert tallied == counted, (bands, zone, start, end, group_by)
        # The tallies hold every row, and nothing else.
        for tally, rows in ((response_tally.c.responses, ResponseRecord),
                            (invitation_tally.c.invitations, InvitationRecord)):
            per_day = session.execute(
                select(tally.table.c.day, func.sum(tally))
                .where(tally.table.c.survey_id == survey_id).group_by(tally.table.c.day)).all()
            count = session.execute(select(func.count()).select_from(rows)
                                    .where(rows.survey_id == survey_id)).scalar()
            assert sum(total for _day, total in per_day) == count
            assert all(total >= 0 for _day, total in per_day)


def test_rows_written_any_way_are_counted_as_the_rows_say(survey_ctx):
    chooser = random.Random(20261215)
    definition = validate_survey_definition(survey_fields())
    database = survey_ctx.database
    clients = [str(uuid.uuid4()) for _ in range(8)]

    def moment() -> datetime:
        day = START + timedelta(days=chooser.randrange(DAYS))
        if chooser.random() < 0.5:
            return day + chooser.choice(EDGES) - timedelta(microseconds=chooser.choice([0, 1]))
        return day + timedelta(minutes=chooser.randrange(24 * 60))

    def answers() -> dict:
        given = {key: value for key, value in (
            ("recommend", chooser.randrange(0, 11)), ("satisfied", chooser.randrange(1, 6)),
            ("effort", chooser.randrange(1, 8)), ("comment", "free text"))
            if chooser.random() < 0.85}
        if chooser.random() < 0.05:  # what only plain SQL could store: not an answer
            given["recommend"] = chooser.choice(["9", 9.5, True, None])
        return given

    with database.engine.begin() as connection:
        survey_id = add_survey(connection, survey_fields())
        other_id = add_survey(connection, survey_fields())
        invitations = [invitation_row(chooser.choice([survey_id] * 9 + [other_id]),
                                      chooser.choice(clients), created,
                                      created + timedelta(hours=chooser.randrange(0, 72))
                                      if chooser.random() < 0.75 else None)
                       for created in (moment() for _ in range(420))]
        # Invitations: one multi-row statement, then one statement per row.
        connection.execute(insert(INVITATION).values(invitations[:200]))
        connection.execute(insert(INVITATION), invitations[200:])
        answered = [row for row in invitations if row["answered_at"] is not None]
        responses = [response_row(row, answers(), Decimal(chooser.randrange(0, 10001)) / 100
                                  if chooser.random() < 0.9 else None) for row in answered]
        third = len(responses) // 3
        # As the service stores them (first answers in their columns); some beyond the scales.
        stored = [{**row, **dict(zip(("nps", "csat", "ces"),
                                     expected_first(definition, row["answers"])))}
                  for row in responses[:third]]
        for row, odd in zip(stored, [(12, 0, 9), (-1, 7, 0), (10, 6, None)]):
            row.update(zip(("nps", "csat", "ces"), odd))
        connection.execute(insert(RESPONSE), stored)
        # Without the columns: one multi-row statement, then one statement per row.
        plain = [{key: value for key, value in row.items() if key not in ("nps", "csat", "ces")}
                 for row in responses[third:]]
        connection.execute(insert(RESPONSE).values(plain[:third]))
        connection.execute(insert(RESPONSE), plain[third:])
    assert_tallied_equals_rows(database, survey_id)

    with database.transaction() as session:
        kept = {row.id: row for row in session.execute(select(ResponseRecord)).scalars()}
    for row in responses[third:]:  # filled in by the database, from the answers
        found = kept[row["id"]]
        assert (found.nps, found.csat, found.ces) == expected_first(definition, row["answers"])
    with database.engine.begin() as connection:
        ids = [row["id"] for row in responses]
        chooser.shuffle(ids)
        moved, unscored, refilled, elsewhere, deleted = (ids[0:25], ids[25:35], ids[35:45],
                                                         ids[45:50], ids[50:80])
        # Another day (and time) for some, no score for others, first answers cleared (the
        # trigger reads them again), another survey, deleted.
        connection.execute(
            sa.update(RESPONSE).where(RESPONSE.c.id == sa.bindparam("b_id"))
            .values(submitted_at=sa.bindparam("b_moment")),
            [{"b_id": response_id, "b_moment": moment()} for response_id in moved])
        connection.execute(sa.update(RESPONSE).where(RESPONSE.c.id.in_(unscored))
                           .values(score=None))
        connection.execute(sa.update(RESPONSE).where(RESPONSE.c.id.in_(refilled))
                           .values(nps=None, csat=None, ces=None))
        connection.execute(sa.update(RESPONSE).where(RESPONSE.c.id.in_(elsewhere))
                           .values(survey_id=other_id))
        connection.execute(sa.delete(RESPONSE).where(RESPONSE.c.id.in_(deleted)))
        open_ids = [row["id"] for row in invitations if row["answered_at"] is None]
        connection.execute(sa.update(INVITATION).where(INVITATION.c.id.in_(open_ids[:20]))
                           .values(answered_at=START + timedelta(days=DAYS)))
        connection.execute(sa.update(INVITATION).where(INVITATION.c.id.in_(
            [row["id"] for row in answered[:10]])).values(answered_at=None))
        connection.execute(
            sa.update(INVITATION).where(INVITATION.c.id == sa.bindparam("b_id"))
            .values(created_at=sa.bindparam("b_moment")),
            [{"b_id": invitation_id, "b_moment": moment()} for invitation_id in open_ids[20:40]])
        connection.execute(sa.delete(INVITATION).where(INVITATION.c.id.in_(open_ids[40:70])))
    with database.transaction() as session:
        refilled_rows = session.execute(select(ResponseRecord).where(
            ResponseRecord.id.in_(refilled))).scalars().all()
    assert all((row.nps, row.csat, row.ces) == expected_first(definition, row.answers)
               for row in refilled_rows)
    # Erasure drops free text and revokes open invitations: nothing counted changes.
    deliver(survey_ctx, client_event("client.erased", clients[0], {"client_id": clients[0]}))
    for checked in (survey_id, other_id):
        assert_tallied_equals_rows(database, checked)

    # The figures do come from the tallies: one wrong there shows in the results.
    with database.transaction() as session:
        session.execute(sa.update(response_tally).where(response_tally.c.survey_id == survey_id)
                        .values(responses=response_tally.c.responses + 1))
        survey = service.get_survey(session, survey_id)
        arguments = dict(start=None, end=None, group_by=None, timezone="UTC")
        assert results.results(session, survey, **arguments) \
            != results.results(session, survey, from_rows=True, **arguments)


def test_a_row_inserted_by_plain_sql_gets_its_first_answers_from_its_answers(survey_ctx):
    database = survey_ctx.database
    odd = [(QUESTIONS, {"recommend": "9", "satisfied": 9.5, "effort": True}, (None, None, None)),
           (QUESTIONS, {"recommend": 9.0, "satisfied": 40000, "effort": 2}, (9, None, 2)),
           (QUESTIONS, [], (None, None, None))]
    cases = CASES + odd
    with database.engine.begin() as connection:
        surveys = {id(questions): add_survey(connection, fields(questions))
                   for questions in (QUESTIONS, NO_CES)}
        rows = []
        for questions, answers, _expected in cases:
            invitation = invitation_row(surveys[id(questions)], "c", START, START)
            connection.execute(insert(INVITATION).values(invitation))
            rows.append(response_row(invitation, answers, None))
        connection.execute(insert(RESPONSE).values(rows[:3]))
        connection.execute(insert(RESPONSE), rows[3:])
        # An update that adds an answer fills a column still empty.
        connection.execute(sa.update(RESPONSE).where(RESPONSE.c.id == rows[1]["id"])
                           .values(answers={"recommend": 4, "recommend_team": 0}))
    with database.transaction() as session:
        kept = {row.id: (row.nps, row.csat, row.ces)
                for row in session.execute(select(ResponseRecord)).scalars()}
    # (the second row's answers were replaced by the update)
    expected = [(4, None, None) if number == 1 else first
                for number, (_questions, _answers, first) in enumerate(cases)]
    assert [kept[row["id"]] for row in rows] == expected
    for survey_id in surveys.values():
        assert_tallied_equals_rows(database, survey_id)
    with database.transaction() as session:
        overall = results.results(session, service.get_survey(session, surveys[id(QUESTIONS)]),
                                  start=None, end=None, group_by=None, timezone="UTC")["overall"]
    counted = [first for first, (questions, _a, _e) in zip(expected, cases)
               if questions is QUESTIONS]
    assert overall["responses"] == len(counted)
    assert overall["nps"]["answered"] == sum(1 for nps, _c, _e in counted if nps is not None)


def test_concurrent_writers_of_one_survey_and_day_lose_no_count(survey_ctx):
    database = survey_ctx.database
    threads, each, removed = 12, 15, 4
    moment = datetime(2026, 1, 5, 12, tzinfo=timezone.utc)
    with database.engine.begin() as connection:
        survey_id = add_survey(connection, survey_fields())
    start = threading.Barrier(threads)
    failures = []

    def write(number: int) -> None:
        try:
            start.wait(timeout=30)
            written = []
            for index in range(each):
                invitation = invitation_row(survey_id, f"client-{number}", moment, moment)
                response = response_row(invitation, {"recommend": (number + index) % 11,
                                                      "satisfied": 1 + index % 5},
                                        Decimal("50.25"))
                with database.transaction() as session:
                    session.execute(insert(INVITATION).values(invitation))
                    session.execute(insert(RESPONSE).values(response))
                written.append(response["id"])
            with database.transaction() as session:
                session.execute(sa.delete(RESPONSE).where(RESPONSE.c.id.in_(written[:removed])))
        except Exception as exc:  # noqa: BLE001 - reported below
            failures.append(exc)

    workers = [threading.Thread(target=write, args=(number,)) for number in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert not failures and not any(worker.is_alive() for worker in workers)
    with database.transaction() as session:
        survey = service.get_survey(session, survey_id)
        overall = results.results(session, survey, start=None, end=None, group_by=None,
                                  timezone="UTC")["overall"]
        assert overall == results.results(session, survey, start=None, end=None, group_by=None,
                                          timezone="UTC", from_rows=True)["overall"]
    assert overall["responses"] == threads * (each - removed)
    assert overall["invitations"] == threads * each
    assert overall["nps"]["answered"] == threads * (each - removed)
    assert overall["score_mean"] == Decimal("50.25")


def triggers(database: Database) -> set[str]:
    with database.engine.connect() as connection:
        if database.dialect == "postgresql":
            return set(connection.execute(text(
                "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal")).scalars()) | set(
                connection.execute(text(
                    "SELECT proname FROM pg_proc JOIN pg_namespace n ON n.oid = pronamespace "
                    "WHERE nspname = 'public'")).scalars())
        return set(connection.execute(text(
            "SELECT name FROM sqlite_master WHERE type = 'trigger'")).scalars())


def test_the_migration_counts_the_rows_stored_before_it_and_goes_down_and_up(survey_settings):
    url = survey_settings.database_url("survey")
    upgrade("survey", url, BEFORE_TALLIES)
    chooser = random.Random(7)
    definition = validate_survey_definition(survey_fields())
    database = Database(url)
    try:
        with database.engine.begin() as connection:
            survey_id = add_survey(connection, survey_fields())
            invitations = [invitation_row(survey_id, "c", created, created + timedelta(hours=3)
                                          if chooser.random() < 0.7 else None)
                           for created in (START + timedelta(minutes=chooser.randrange(
                               DAYS * 24 * 60)) for _ in range(300))]
            connection.execute(insert(INVITATION), invitations)
            rows = [response_row(row, {"recommend": chooser.randrange(0, 11),
                                       "effort": chooser.randrange(1, 8)}, Decimal("12.5"))
                    for row in invitations if row["answered_at"] is not None]
            # Half as the service stored them, half by plain SQL (first answers not kept).
            half = len(rows) // 2
            connection.execute(insert(RESPONSE), [
                {**row, **dict(zip(("nps", "csat", "ces"),
                                   expected_first(definition, row["answers"])))}
                for row in rows[:half]])
            connection.execute(insert(RESPONSE), rows[half:])
        before = triggers(database)

        upgrade("survey", url)
        made = triggers(database) - before
        assert {"response_tally_inserted", "response_tally_deleted", "response_tally_updated",
                "invitation_tally_inserted", "invitation_tally_deleted",
                "invitation_tally_updated"} <= made
        with database.transaction() as session:
            assert all((row.nps, row.csat, row.ces) == expected_first(definition, row.answers)
                       for row in session.execute(select(ResponseRecord)).scalars())
            overall = results.results(session, service.get_survey(session, survey_id),
                                      start=None, end=None, group_by=None,
                                      timezone="UTC")["overall"]
        assert overall["responses"] == len(rows) and overall["invitations"] == len(invitations)
        assert overall["nps"]["answered"] == len(rows)
        assert_tallied_equals_rows(database, survey_id)

        config = alembic_config("survey", url)
        command.downgrade(config, "6e59aa8406f6")  # the revision before the tallies
        assert triggers(database) == before
        assert not {"response_tally", "invitation_tally"} & set(
            sa.inspect(database.engine).get_table_names())
        with database.engine.begin() as connection:  # written while there are no triggers
            connection.execute(sa.delete(RESPONSE).where(RESPONSE.c.id == rows[0]["id"]))
        upgrade("survey", url)
        assert triggers(database) - before == made
        assert_tallied_equals_rows(database, survey_id)
        if database.dialect == "postgresql":  # TRUNCATE fires no row trigger: one of its own
            with database.engine.begin() as connection:
                connection.execute(text("TRUNCATE survey_response"))
            assert_tallied_equals_rows(database, survey_id)
    finally:
        database.dispose()


def slotted_connections(database: Database, wanted: int) -> list:
    """``wanted`` open connections whose backends write different tally slots, none of them
    slot 0, the one past days are folded into (PostgreSQL; on SQLite one connection: every
    writer writes slot 0)."""
    if database.dialect != "postgresql":
        return [database.engine.connect()]
    kept, spare, slots = [], [], {0}
    while len(kept) < wanted:
        connection = database.engine.connect()
        slot = connection.execute(text("SELECT pg_backend_pid() % 64")).scalar()
        connection.rollback()
        (spare if slot in slots else kept).append(connection)
        slots.add(slot)
    for connection in spare:
        connection.close()
    return kept


def tally_rows(database: Database, tally, survey_id: str) -> dict[date, int]:
    with database.engine.connect() as connection:
        return dict(connection.execute(
            select(tally.c.day, func.count()).where(tally.c.survey_id == survey_id)
            .group_by(tally.c.day)).all())


def test_the_periodic_jobs_fold_the_slots_of_days_before_yesterday(survey_ctx):
    from services.survey.app import run_jobs
    database = survey_ctx.database
    now = datetime.now(timezone.utc)
    old_days = [now - timedelta(days=10), now - timedelta(days=30)]
    live_days = [now - timedelta(days=1), now]
    with database.engine.begin() as connection:
        survey_id = add_survey(connection, survey_fields())
    writers = slotted_connections(database, 3)
    written = 0
    try:
        # Each writer invites on every day, and answers what it invited (answering counts on
        # the invitation's creation day, in the writer's slot).
        for writer in writers:
            with writer.begin():
                for day in old_days + live_days:
                    rows = [invitation_row(survey_id, "c", day, None) for _ in range(2)]
                    writer.execute(insert(INVITATION), rows)
                    writer.execute(sa.update(INVITATION).where(INVITATION.c.id == rows[0]["id"])
                                   .values(answered_at=day))
                    writer.execute(insert(RESPONSE).values(response_row(
                        {**rows[0], "answered_at": day}, {"recommend": 9}, Decimal("80"))))
                    written += 1
    finally:
        for writer in writers:
            writer.close()
    postgres = database.dialect == "postgresql"
    before = {tally: tally_rows(database, tally, survey_id)
              for tally in (response_tally, invitation_tally)}
    for rows in before.values():
        assert set(rows.values()) == ({len(writers)} if postgres else {1})

    done = run_jobs(survey_ctx, now)
    if postgres:  # every slot row of the old days, of both tallies, went into slot 0
        assert done["tally_slots_folded"] == 2 * len(old_days) * len(writers)
    else:
        assert "tally_slots_folded" not in done
    for tally, rows in before.items():
        after = tally_rows(database, tally, survey_id)
        assert {day: after[day] for day in after} == {
            day: 1 if day < (now - timedelta(days=1)).date() else count
            for day, count in rows.items()}
        with database.engine.connect() as connection:
            assert set(connection.execute(select(tally.c.slot).where(
                tally.c.day < (now - timedelta(days=1)).date())).scalars()) == {0}
    assert_tallied_equals_rows(database, survey_id)
    with database.transaction() as session:
        overall = results.results(session, service.get_survey(session, survey_id), start=None,
                                  end=None, group_by=None, timezone="UTC")["overall"]
    assert overall["responses"] == written and overall["invitations"] == 2 * written
    assert "tally_slots_folded" not in run_jobs(survey_ctx, now)  # nothing left to fold


@pytest.mark.postgres
def test_folding_while_writers_write_loses_no_count_and_fails_no_writer(postgres_url, settings):
    """Writers add and answer invitations and responses on past days, in random order within
    their transactions, while the fold runs again and again: no count is lost, no writer
    fails (in a lock cycle with a writer the fold is the one that gives way)."""
    url = postgres_url
    upgrade("survey", url)
    database = Database(url)
    chooser = random.Random(20261130)
    now = datetime.now(timezone.utc)
    days = [now - timedelta(days=number) for number in range(3, 9)]
    try:
        with database.engine.begin() as connection:
            survey_id = add_survey(connection, survey_fields())
            waiting = [invitation_row(survey_id, "c", chooser.choice(days), None)
                       for _ in range(240)]
            connection.execute(insert(INVITATION), waiting)
        writers, each = 6, 20
        queues = [waiting[number::writers] for number in range(writers)]
        failures, stop = [], threading.Event()
        folds = []

        def write(number: int) -> None:
            mine = random.Random(number)
            try:
                for index in range(each):
                    answered = queues[number][index]
                    day = mine.choice(days)
                    new = invitation_row(survey_id, "c", day, day)
                    steps = [
                        lambda session: session.execute(insert(INVITATION).values(new)),
                        lambda session: session.execute(
                            sa.update(INVITATION).where(INVITATION.c.id == answered["id"])
                            .values(answered_at=now)),
                        lambda session: session.execute(insert(RESPONSE).values(
                            response_row({**answered, "answered_at": day},
                                         {"recommend": index % 11}, Decimal("10")))),
                    ]
                    mine.shuffle(steps)
                    with database.transaction() as session:
                        for step in steps:
                            step(session)
            except Exception as exc:  # noqa: BLE001 - reported below
                failures.append(exc)

        def fold() -> None:
            while not stop.is_set():
                try:
                    folds.append(results.fold_tally_slots(database, now.date()))
                except Exception as exc:  # noqa: BLE001 - reported below
                    failures.append(exc)
                    return

        folder = threading.Thread(target=fold)
        folder.start()
        threads = [threading.Thread(target=write, args=(number,)) for number in range(writers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        stop.set()
        folder.join(timeout=60)
        assert not failures, failures
        assert not any(thread.is_alive() for thread in threads + [folder])
        assert len(folds) > 1 and sum(folds) > 0
        results.fold_tally_slots(database, now.date())
        for tally in (response_tally, invitation_tally):
            assert set(tally_rows(database, tally, survey_id).values()) == {1}
        assert_tallied_equals_rows(database, survey_id)
        with database.transaction() as session:
            overall = results.results(session, service.get_survey(session, survey_id),
                                      start=None, end=None, group_by=None,
                                      timezone="UTC")["overall"]
        assert overall["responses"] == writers * each
        assert overall["invitations"] == len(waiting) + writers * each
    finally:
        database.dispose()
