"""The ordinary public submit answered without the framework (``api.fast_submit``), and the
two-statement write under it (``submission``): same answer as the view, same guarantees."""
from __future__ import annotations

import contextlib
import json
import logging

import pytest
from sqlalchemy import func, select

from services.survey import service, submission
from services.survey.adapters.orm import ResponseRecord, platform
from services.survey.app import build_context, create_app
from services.survey.domain import definition as definition_module
from services.survey.domain.invitations import hash_token
from tests.survey.integration.test_survey_public_responses import link, responses, submit  # noqa: F401
from tests.survey.survey_support import FULL_ANSWERS, active_survey, invite, learn_client, outbox, token_of


def test_an_ordinary_submit_never_reaches_the_view(http, link, monkeypatch):
    def view_path(*_args, **_kwargs):
        raise AssertionError("the view answered an ordinary submit")

    monkeypatch.setattr(service, "submit_response", view_path)
    response = submit(http, link["token"], FULL_ANSWERS)
    assert response.status_code == 201


def test_the_direct_answer_is_the_views_answer(http, staff, link, survey_ctx):
    direct = submit(http, link["token"], FULL_ANSWERS, **{"X-Request-ID": "req-direct-1"})
    # An Idempotency-Key sends the same request through the view.
    other = invite(http, staff, link["survey"]["id"], learn_client(survey_ctx))
    viewed = submit(http, token_of(other["url"]), FULL_ANSWERS,
                    **{"X-Request-ID": "req-view-1", "Idempotency-Key": "k-1"})
    assert direct.status_code == viewed.status_code == 201
    assert direct.mimetype == viewed.mimetype == "application/json"
    assert direct.headers["X-Request-ID"] == "req-direct-1"
    first, second = direct.get_json(), viewed.get_json()
    assert list(first) == list(second)
    assert first["score"] == second["score"] == 85.56
    assert first["submitted_at"].endswith("Z") and len(first["submitted_at"]) == len(second["submitted_at"])
    assert direct.get_data().endswith(b"\n") and viewed.get_data().endswith(b"\n")
    assert responses(survey_ctx) == 2
    events = outbox(survey_ctx, "survey.response.submitted")
    assert {event["data"]["response_id"] for event in events} == {first["id"], second["id"]}
    # Stored alike, value for value and type for type (SQLite keeps what it is given).
    if survey_ctx.database.dialect == "sqlite":
        from sqlalchemy import text
        with survey_ctx.database.engine.connect() as connection:
            stored = {row[0]: row[1:] for row in connection.execute(text(
                "SELECT r.id, r.answers, r.score, typeof(r.score), r.scoring_version, r.language,"
                " r.nps, r.csat, r.ces, length(r.submitted_at), typeof(r.submitted_at),"
                " length(i.answered_at), i.delivery_status, i.version, length(o.created_at),"
                " o.attempts, o.sent_at IS NULL"
                "  FROM survey_response r JOIN invitation i ON i.id = r.invitation_id"
                "  JOIN outbox o ON o.event_type = 'survey.response.submitted'"
                "   AND o.body LIKE '%' || r.id || '%'"))}
        assert stored[first["id"]] == stored[second["id"]]
    first_event, second_event = events
    own = ("id", "sequence", "data", "time", "subject")   # each event's own values
    assert ({key: value for key, value in first_event.items() if key not in own}
            == {key: value for key, value in second_event.items() if key not in own})
    assert sorted(first_event["data"]) == sorted(second_event["data"])


def test_the_direct_answer_is_logged_and_counted(http, link, survey_app, caplog):
    with caplog.at_level(logging.INFO, logger="clientloop.access"):
        response = submit(http, link["token"], FULL_ANSWERS, **{"X-Request-ID": "req-logged"})
    assert response.status_code == 201
    [line] = [record for record in caplog.records if getattr(record, "request_id", None) == "req-logged"]
    assert (line.method, line.path, line.status) == ("POST", "/api/v1/public/responses", 201)
    assert line.duration_ms >= 0
    assert link["token"] not in json.dumps(vars(line), default=str)
    metrics = http.get("/metrics").get_data(as_text=True)
    assert ('clientloop_http_requests_total{endpoint="/api/v1/public/responses",method="POST",'
            'service="survey",status="201"} 1.0') in metrics


def test_requests_the_view_answers_count_once_against_the_rate_limit(settings, clock, staff):
    limited = settings.with_overrides(ratelimit_public="3 per minute")
    from shared.migrations import upgrade
    upgrade("survey", limited.database_url("survey"))
    ctx = build_context(limited, clock=clock)
    http = create_app(context=ctx).test_client()
    me = {"REMOTE_ADDR": "203.0.113.9"}
    try:
        survey = active_survey(http, staff)
        token = token_of(invite(http, staff, survey["id"], learn_client(ctx))["url"])
        bad = [http.post("/api/v1/public/responses", environ_base=me,
                         json={"token": token, "answers": {"recommend": 99}}).status_code
               for _ in range(2)]
        good = http.post("/api/v1/public/responses", environ_base=me,
                         json={"token": token, "answers": FULL_ANSWERS})
        assert bad == [422, 422] and good.status_code == 201
        over = http.post("/api/v1/public/responses", environ_base=me,
                         json={"token": token, "answers": FULL_ANSWERS})
        assert over.status_code == 429 and over.mimetype == "application/problem+json"
    finally:
        ctx.extras["delivery_worker"].stop()
        ctx.database.dispose()


def _read(ctx, token):
    with ctx.database.engine.connect() as connection:
        return submission.linked_invitation(connection, hash_token(token))


@contextlib.contextmanager
def _connection(ctx, path: str):
    """A SQLAlchemy connection in a transaction (the view's path), or a driver connection in
    autocommit as the direct path uses (on SQLite with the submit's own view and trigger)."""
    if path == "transaction":
        with ctx.database.engine.begin() as connection:
            yield connection
        return
    drivers = submission.driver_connections(ctx.database, keep=1)
    try:
        with drivers.connect() as connection:
            yield connection
    finally:
        drivers.dispose()


def _save(ctx, invitation, response_id, path="transaction"):
    with _connection(ctx, path) as connection:
        return submission.save_response(
            connection, invitation, response_id=response_id, answers={"recommend": 9}, score=None,
            scoring_version="test", first={"nps": 9, "csat": None, "ces": None},
            event_data={"response_id": response_id}, now=ctx.clock(), service="survey",
            event_type="survey.response.submitted")


@pytest.mark.parametrize("path", ["transaction", "driver"])
def test_of_two_writes_read_before_either_only_the_first_stores_anything(http, link, survey_ctx,
                                                                         path):
    first, second = _read(survey_ctx, link["token"]), _read(survey_ctx, link["token"])
    assert first.answered_at is None and second.answered_at is None
    assert _save(survey_ctx, first, "00000000-0000-4000-8000-000000000001", path) is not None
    assert _save(survey_ctx, second, "00000000-0000-4000-8000-000000000002", path) is None
    assert responses(survey_ctx) == 1
    [event] = outbox(survey_ctx, "survey.response.submitted")
    table = platform.event_sequence
    with survey_ctx.database.transaction() as session:
        taken = session.execute(select(table.c.last_value)
                                .where(table.c.subject == link["client_id"])).scalar_one()
    # The loser took no number: the subject's counter stops at the winner's event.
    assert int(event["sequence"]) == taken
    assert [int(e["sequence"]) for e in outbox(survey_ctx) if e["subject"] == link["client_id"]] \
        == list(range(1, taken + 1))
    assert submit(http, link["token"], FULL_ANSWERS).get_json()["reason"] == "answered"


@pytest.mark.parametrize("path", ["transaction", "driver"])
def test_a_survey_changed_since_the_read_writes_nothing(http, staff, link, survey_ctx, path):
    stale = _read(survey_ctx, link["token"])
    assert http.post(f"/api/v1/surveys/{link['survey']['id']}/close", headers=staff).status_code == 200
    assert _save(survey_ctx, stale, "00000000-0000-4000-8000-000000000003", path) is None
    assert responses(survey_ctx) == 0 and outbox(survey_ctx, "survey.response.submitted") == []
    assert submit(http, link["token"], FULL_ANSWERS).get_json()["reason"] == "closed"


def test_the_definition_is_parsed_once_per_survey_version(http, staff, link, survey_ctx, monkeypatch):
    submission.definitions.clear()
    parsed = []
    real = definition_module.validate_survey_definition

    def counting(*args, **kwargs):
        parsed.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(submission, "validate_survey_definition", counting)
    tokens = [link["token"]] + [
        token_of(invite(http, staff, link["survey"]["id"], learn_client(survey_ctx))["url"])
        for _ in range(3)]
    for token in tokens:
        assert submit(http, token, FULL_ANSWERS).status_code == 201
    assert len(parsed) == 1
    with survey_ctx.database.transaction() as session:
        assert session.execute(select(func.count()).select_from(ResponseRecord)).scalar_one() == 4


@pytest.mark.parametrize("body", [
    b'{"token": "x", "answers": {}, "extra": 1}', b'{"token": ["x"], "answers": {}}',
    b'{"token": "AAAAAAAAAAAAAAAAAAAAAA", "answers": []}', b'{"token": NaN}', b'{"a": "\\u0000"}',
    b'[1, 2]', b'not json'])
def test_unusual_bodies_get_the_views_answer(http, body):
    response = http.post("/api/v1/public/responses", data=body, content_type="application/json")
    assert 400 <= response.status_code < 500
    assert response.mimetype == "application/problem+json"


def test_simultaneous_submits_keep_one_connection_per_thread(http, staff, link, survey_ctx,
                                                             survey_app):
    """The direct path keeps its driver connections for the next requests (psycopg's on
    PostgreSQL, ``sqlite3``'s embedded): under load it never opens a connection per request."""
    import time
    from concurrent.futures import ThreadPoolExecutor

    from services.survey.submission import LINKED, SAVE_BY_TOKEN_PG

    threads = 4
    client_id = learn_client(survey_ctx)
    tokens = [token_of(invite(http, staff, link["survey"]["id"], client_id,
                              allow_duplicate=True)["url"]) for _ in range(threads * 24)]

    def answer(batch):
        client = survey_app.test_client()
        return [submit(client, token, FULL_ANSWERS).status_code for token in batch]

    def round_of(batch):
        with ThreadPoolExecutor(threads) as pool:
            return [code for codes in pool.map(answer, [batch[n::threads] for n in range(threads)])
                    for code in codes]

    assert submit(http, tokens[0], FULL_ANSWERS).status_code == 201
    path = survey_app.wsgi_app
    while not hasattr(path, "_drivers"):
        path = path.app
    drivers = path._drivers.get()
    assert drivers.dialect.name == survey_ctx.database.dialect
    compile_name = "sql" if drivers.dialect.name == "postgresql" else "statement"
    original = getattr(drivers, compile_name)

    def slow_compile(statement, *rest):   # the first statement takes a while: requests overlap
        if statement is LINKED or statement is SAVE_BY_TOKEN_PG:
            time.sleep(0.02)
        return original(statement, *rest)

    setattr(drivers, compile_name, slow_compile)
    assert set(round_of(tokens[1:threads * 4])) == {201}
    opened = drivers.opened
    assert 1 <= opened <= threads
    assert set(round_of(tokens[threads * 4:])) == {201}
    assert drivers.opened == opened and responses(survey_ctx) == threads * 24


def test_an_ordinary_submit_wakes_the_relay_after_its_commit(http, link, survey_ctx):
    """PostgreSQL: a ``NOTIFY`` on the survey relay's channel soon after the 201 (the relay
    process listens there); embedded: the in-process relay's signal."""
    from shared.bus.outbox import notify_channel, outbox_written
    if survey_ctx.database.dialect != "postgresql":
        outbox_written.clear()
        assert submit(http, link["token"], FULL_ANSWERS).status_code == 201
        assert outbox_written.is_set()
        return
    import psycopg
    from shared.db import psycopg_dsn
    listener = psycopg.connect(psycopg_dsn(survey_ctx.database.engine.url), autocommit=True)
    try:
        listener.execute(f'LISTEN "{notify_channel("survey")}"')
        assert submit(http, link["token"], FULL_ANSWERS).status_code == 201
        assert sum(1 for _ in listener.notifies(timeout=5, stop_after=1)) == 1
    finally:
        listener.close()


def test_embedded_the_four_writes_are_one_statement_in_autocommit(http, staff, link, survey_ctx,
                                                                   survey_app):
    """SQLite has one write lock per database: the direct path reads the link's invitation
    outside any transaction (its answers are checked and scored with no lock held), then makes
    the four writes — the invitation answered, the response, the subject's sequence, the outbox
    row — as one statement on its own (the write lock taken as it starts, committed as it ends),
    through its connection's own view and trigger."""
    assert survey_ctx.database.dialect == "sqlite"
    client_id = learn_client(survey_ctx)
    tokens = [token_of(invite(http, staff, link["survey"]["id"], client_id,
                              allow_duplicate=True)["url"]) for _ in range(2)]
    assert submit(http, tokens[0], FULL_ANSWERS).status_code == 201   # opens, parses, keeps
    path = survey_app.wsgi_app
    while not hasattr(path, "_drivers"):
        path = path.app
    statements: list[str] = []
    for raw in path._drivers.get()._idle:
        raw.set_trace_callback(statements.append)
    try:
        assert submit(http, tokens[1], FULL_ANSWERS).status_code == 201
    finally:
        for raw in path._drivers.get()._idle:
            raw.set_trace_callback(None)
    top: list[str] = []   # a statement firing triggers is traced again for each: once here
    for sql in statements:
        sql = " ".join(sql.split())
        if not sql.startswith("--") and (not top or top[-1] != sql):
            top.append(sql)
    assert len(top) == 2, statements
    assert top[0].startswith("SELECT invitation.id")
    assert top[1].startswith("INSERT INTO clientloop_submit ")
    assert not any(sql.startswith(("BEGIN", "COMMIT", "SAVEPOINT")) for sql in statements)
    # Its trigger's four writes, and the tally triggers they set off, ran inside it.
    assert sum(1 for sql in statements if " ".join(sql.split()) == top[1]) >= 4
    # The outbox body carries the number the statement took, as 20 digits.
    numbers = [event["sequence"] for event in outbox(survey_ctx) if event["subject"] == client_id]
    table = platform.event_sequence
    with survey_ctx.database.transaction() as session:
        taken = session.execute(select(table.c.last_value)
                                .where(table.c.subject == client_id)).scalar_one()
    assert numbers == [f"{number:020d}" for number in range(1, taken + 1)]
    assert responses(survey_ctx) == 2


def _save_on(connection, ctx, invitation, response_id):
    return submission.save_response(
        connection, invitation, response_id=response_id, answers={"recommend": 9}, score=None,
        scoring_version="test", first={"nps": 9, "csat": None, "ces": None},
        event_data={"response_id": response_id}, now=ctx.clock(), service="survey",
        event_type="survey.response.submitted")


def _in_one_turn(ctx, saves, *, rows: int | None = None):
    """Run ``saves`` (invitation, response id) in threads of their own, all waiting while a turn
    is under way, in the order given, then let them go: one turn writes them together. Each save's outcome (its
    stored response, ``None``, or the error it raised) and the statements the connections ran."""
    import threading
    drivers = submission.driver_connections(ctx.database, keep=len(saves))
    turns = drivers.turns
    if rows is not None:
        turns.ROWS = rows
    statements: list[str] = []
    outcomes: dict[int, object] = {}

    def save(number, invitation, response_id):
        with drivers.connect() as connection:
            connection._raw.set_trace_callback(statements.append)
            try:
                outcomes[number] = _save_on(connection, ctx, invitation, response_id)
            except Exception as error:  # noqa: BLE001 - the outcome under test
                outcomes[number] = error
            finally:
                connection._raw.set_trace_callback(None)

    with turns._changed:
        turns._writing = True          # a turn under way: every save waits for it
    threads = [threading.Thread(target=save, args=(number, *pair)) for number, pair in enumerate(saves)]
    def waiting() -> int:
        with turns._changed:
            return len(turns._waiting)

    try:
        for number, thread in enumerate(threads):
            thread.start()               # each waits before the next starts: a known order
            for _ in range(500):
                if waiting() == number + 1:
                    break
                threading.Event().wait(0.005)
        for _ in range(500):
            with turns._changed:
                if len(turns._waiting) == len(saves):
                    turns._writing = False
                    turns._changed.notify_all()
                    break
            threading.Event().wait(0.01)
        else:
            raise AssertionError("the saves did not all wait for the turn")
    finally:
        for thread in threads:
            thread.join(10)
        drivers.dispose()
    return [outcomes[number] for number in range(len(saves))], statements


def test_embedded_submits_waiting_together_are_written_by_one_statement(http, staff, link,
                                                                        survey_ctx):
    """Submits that wait while another thread writes are then written together, as one
    statement (SQLite's write lock taken once), each row as it would be alone: of two rows of
    one invitation only the first stores anything, and the subject's numbers stay gapless."""
    assert survey_ctx.database.dialect == "sqlite"
    client_id = link["client_id"]
    tokens = [link["token"]] + [token_of(invite(http, staff, link["survey"]["id"], client_id,
                                                 allow_duplicate=True)["url"]) for _ in range(2)]
    ids = [f"00000000-0000-4000-8000-00000000010{number}" for number in range(4)]
    outcomes, statements = _in_one_turn(survey_ctx, [
        (_read(survey_ctx, tokens[0]), ids[0]), (_read(survey_ctx, tokens[1]), ids[1]),
        (_read(survey_ctx, tokens[0]), ids[2]), (_read(survey_ctx, tokens[2]), ids[3])])
    # Written in the order they came to wait: the first of the two for tokens[0] won.
    assert [None if outcome is None else outcome.id for outcome in outcomes] == \
        [ids[0], ids[1], None, ids[3]]
    inserts = {" ".join(sql.split()) for sql in statements if sql.startswith("INSERT INTO clientloop_submit")}
    assert len(inserts) == 1 and next(iter(inserts)).count("), (") == 3   # one statement, 4 rows
    assert responses(survey_ctx) == 3
    events = [event for event in outbox(survey_ctx) if event["subject"] == client_id]
    assert sorted(event["data"]["response_id"] for event in outbox(survey_ctx, "survey.response.submitted")
                  if event["subject"] == client_id) == sorted([ids[0], ids[1], ids[3]])
    assert [int(event["sequence"]) for event in events] == list(range(1, len(events) + 1))
    for token in tokens:
        assert submit(http, token, FULL_ANSWERS).get_json()["reason"] == "answered"


def test_embedded_a_row_refused_in_a_turn_fails_its_own_submit_only(http, staff, link, survey_ctx):
    """A turn's statement that fails writes none of its rows; each is then written on its own,
    and only the refused one's submit gets the error."""
    from sqlalchemy.exc import IntegrityError
    assert survey_ctx.database.dialect == "sqlite"
    client_id = link["client_id"]
    tokens = [link["token"]] + [token_of(invite(http, staff, link["survey"]["id"], client_id,
                                                 allow_duplicate=True)["url"]) for _ in range(2)]
    same = "00000000-0000-4000-8000-000000000201"   # two rows with one response id
    outcomes, _statements = _in_one_turn(survey_ctx, [
        (_read(survey_ctx, tokens[0]), same), (_read(survey_ctx, tokens[1]), same),
        (_read(survey_ctx, tokens[2]), "00000000-0000-4000-8000-000000000202")])
    assert outcomes[0].id == same and outcomes[2].id.endswith("202")
    assert isinstance(outcomes[1], IntegrityError)
    assert responses(survey_ctx) == 2
    assert _read(survey_ctx, tokens[1]).answered_at is None    # nothing of it stayed
    assert submit(http, tokens[1], FULL_ANSWERS).status_code == 201


def test_embedded_a_turn_writes_at_most_its_row_limit_and_the_rest_follow(http, staff, link,
                                                                         survey_ctx):
    """A turn writes at most ``WriteTurns.ROWS`` rows (one statement stays within SQLite's
    limit on values); the others, the writing thread's own among them when it came last, are
    written by the turns after it, in the order they came."""
    assert survey_ctx.database.dialect == "sqlite"
    client_id = link["client_id"]
    tokens = [link["token"]] + [token_of(invite(http, staff, link["survey"]["id"], client_id,
                                                 allow_duplicate=True)["url"]) for _ in range(4)]
    ids = [f"00000000-0000-4000-8000-00000000030{number}" for number in range(5)]
    outcomes, statements = _in_one_turn(
        survey_ctx, [(_read(survey_ctx, token), id_) for token, id_ in zip(tokens, ids)], rows=2)
    assert [outcome.id for outcome in outcomes] == ids
    inserts = [" ".join(sql.split()) for sql in statements
               if sql.startswith("INSERT INTO clientloop_submit")]
    # Turns of 2, 2 and 1 rows (each statement traced with its values).
    assert sorted(sql.count("), (") + 1 for sql in dict.fromkeys(inserts)) == [1, 2, 2]
    assert responses(survey_ctx) == 5


@pytest.mark.parametrize("text", ["a\\u0000b", "\\ud800", "ok \\udfff"])
def test_a_plain_submit_with_unstorable_text_is_refused_and_stores_nothing(http, link, survey_ctx,
                                                                         text):
    body = ('{"token": "%s", "answers": {"recommend": 9, "satisfied": 4, "comment": "%s"}}'
            % (link["token"], text)).encode()
    answer = http.post("/api/v1/public/responses", data=body, content_type="application/json")
    assert 400 <= answer.status_code < 500 and answer.mimetype == "application/problem+json"
    assert responses(survey_ctx) == 0
    assert submit(http, link["token"], FULL_ANSWERS).status_code == 201


def test_a_plain_submit_nested_too_deep_is_refused_and_stores_nothing(http, link, survey_ctx):
    deep = "[" * 40 + "1" + "]" * 40
    body = ('{"token": "%s", "answers": {"recommend": 9, "satisfied": 4, "improve": %s}}'
            % (link["token"], deep)).encode()
    answer = http.post("/api/v1/public/responses", data=body, content_type="application/json")
    assert answer.status_code == 400 and "nested" in answer.get_json()["detail"]
    assert responses(survey_ctx) == 0


@pytest.mark.parametrize("raw, may", [
    (b'{"token": "t", "answers": {"a": "plain \xe5\xa5\xbd"}}', False),
    (b'{"token": "t", "answers": {"a": "\\u0000"}}', True),
    (b'{"token": "t", "answers": {"a": "\\\\u"}}', True),          # an escaped backslash: walked
    (b'{"a": ' + b"[" * 31 + b"]" * 31 + b"}", False),              # 32 openers: depth 32 at most
    (b'{"a": ' + b"[" * 32 + b"]" * 32 + b"}", True),
    (b'{"a": "' + b"{" * 40 + b'"}', True),                       # openers inside a string count
])
def test_the_walk_for_unstorable_text_is_skipped_only_when_the_raw_body_rules_it_out(raw, may):
    from shared.web.body import MAX_DEPTH, find_unstorable_text, may_hold_unstorable, parse_json
    assert may_hold_unstorable(raw) is may
    if not may:   # what the walk would have found: nothing, and no depth beyond the limit
        errors: dict = {}
        find_unstorable_text(parse_json(raw), errors)
        assert errors == {} and MAX_DEPTH == 32
