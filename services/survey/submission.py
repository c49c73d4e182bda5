"""The public submit's storage, in as few statements as its guarantees allow.

``submit_on`` (``services.survey.service``) is the hottest write of the suite: every client
answering a link. It takes two statements on PostgreSQL — one when the link is to the survey
the process stored its last submit for (``save_by_token``, below):

1. the invitation behind the link with its survey's status and version (a plain read);
2. after the answers are validated and scored, **one** statement that marks the invitation
   answered *only if* it is still open — not answered, not revoked, not expired, its survey
   active and at the version whose definition checked the answers — and, from that row, inserts
   the response, takes the subject's next event sequence, writes the
   ``survey.response.submitted`` outbox row and wakes the relay (``NOTIFY``).

The conditional update is the guarantee: of simultaneous submits of one link, PostgreSQL lets
one update the row and re-checks the others' conditions against the updated row, so they write
nothing (then the link's state is read again and reported). ``UNIQUE (invitation_id)`` stays the
last guard. Since the second statement is atomic on its own, it may run outside a transaction
(``api.fast_submit``: two round trips in all, no ``BEGIN``/``COMMIT``) or inside the caller's.

**One statement when the survey is guessed.** Each process remembers, per engine, the survey
and version of the last submit it stored (``remember_survey``). The next submit's answers are
checked and scored against that survey's definition, and ``SAVE_BY_TOKEN_PG`` — ``SAVE_PG``
that finds the invitation by the token hash and requires it to belong to that survey — writes
everything in one statement. A guess that does not hold writes nothing, and the submit reads
the link as above.

SQLite has no data-modifying ``WITH``: the same steps are four statements in one
``BEGIN IMMEDIATE`` transaction (calls within the process, not round trips) in the caller's
transaction; on the submit's own driver connections in autocommit (``api.fast_submit``) they
are **one** statement, an insert into a view of the connection's own whose trigger runs the four
(``SQLITE_SETUP``), so that SQLite's single write lock is held neither while the answers are
read, checked and scored nor while the writing thread waits for the interpreter. The survey's
definition is parsed once per survey version and kept (``definition_for``).
"""
from __future__ import annotations

import json
import re
import threading
import uuid
import weakref
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any, Callable, Mapping

from sqlalchemy import bindparam, insert, select, text
from sqlalchemy.engine import Connection

from services.survey.adapters.orm import (InvitationLinkRecord, InvitationRecord, ResponseRecord,
                                          SurveyRecord, platform)
from services.survey.domain.definition import (DefinitionRules, SurveyDefinition,
                                               validate_survey_definition)
from shared.bus.envelope import SEQUENCE_DIGITS, build_envelope
from shared.bus.outbox import record_event_on, split_at_sequence
from shared.db import Database, UTCDateTime
from shared.driver_db import DriverConnections, SqliteDriverConnections

_invitation = InvitationRecord.__table__
_link = InvitationLinkRecord.__table__
_survey = SurveyRecord.__table__
_response = ResponseRecord.__table__

#: The link's invitation and its survey's state, in one statement.
LINKED = (
    select(_invitation.c.id, _invitation.c.survey_id, _invitation.c.client_id,
           _invitation.c.language, _invitation.c.expires_at, _invitation.c.answered_at,
           _invitation.c.revoked_at, _survey.c.status, _survey.c.version)
    .select_from(_link.join(_invitation, _invitation.c.id == _link.c.invitation_id)
                 .join(_survey, _survey.c.id == _invitation.c.survey_id))
    .where(_link.c.token_hash == bindparam("token_hash"))
)

DEFINITION = select(_survey.c.definition, _survey.c.version).where(_survey.c.id == bindparam("id"))

#: The marker the outbox body carries where the subject's sequence goes (the statement that
#: takes the number fills it in: PostgreSQL's, and SQLite's single one).
_SEQUENCE_MARK = 0

#: Still open, at the version whose definition checked the answers (both dialects).
_OPEN = """answered_at IS NULL AND revoked_at IS NULL AND expires_at > :now
       AND EXISTS (SELECT 1 FROM survey
                    WHERE survey.id = :survey_id AND survey.status = 'active'
                      AND survey.version = :survey_version)"""
_STILL_OPEN = """
       id = :invitation_id AND """ + _OPEN
_MARK_ANSWERED = """
UPDATE invitation
   SET answered_at = :now, version = version + 1,
       delivery_status = CASE WHEN delivery_status IN ('pending', 'sending')
                              THEN 'cancelled' ELSE delivery_status END
 WHERE"""
_ANSWER = _MARK_ANSWERED + _STILL_OPEN

#: PostgreSQL: the invitation answered if still open and, from its row, response, sequence and
#: outbox — one statement, atomic on its own. A row comes back only when written. The relay is
#: woken after the commit (``shared.bus.wake``), not by a NOTIFY in it.
SAVE_PG = text(f"""
WITH answered AS ({_ANSWER}
    RETURNING id
), response AS (
    INSERT INTO survey_response (id, survey_id, invitation_id, client_id, language, answers,
                                 score, scoring_version, submitted_at, nps, csat, ces)
    SELECT :id, :survey_id, answered.id, :client_id, :language, CAST(:answers AS JSON),
           :score, :scoring_version, :now, :nps, :csat, :ces
      FROM answered
    RETURNING invitation_id
), numbered AS (
    INSERT INTO event_sequence (subject, last_value)
    SELECT :subject, 1 FROM response
    ON CONFLICT (subject) DO UPDATE SET last_value = event_sequence.last_value + 1
    RETURNING last_value
), event AS (
    INSERT INTO outbox (event_id, event_type, subject, body, created_at, attempts)
    SELECT :event_id, :event_type, :subject,
           :body_head || lpad(last_value::text, 20, '0') || :body_tail, :now, 0
      FROM numbered
    RETURNING id
)
SELECT id FROM event
""").bindparams(bindparam("now", type_=UTCDateTime()), bindparam("score", type_=ResponseRecord.score.type))

#: PostgreSQL, for a submit to the survey the process stored its last submit for
#: (:func:`save_by_token`): ``SAVE_PG`` that also finds the invitation by the link's token hash
#: — the read before it is not needed when the survey is guessed right. The statement writes
#: only if the link's invitation belongs to that survey, which is still active at that version,
#: and is still open; the invitation's id, client and language come from its row, and the
#: event's body names them where the caller left markers (as JSON strings).
SAVE_BY_TOKEN_PG = text(f"""
WITH answered AS ({_MARK_ANSWERED}
       id = (SELECT invitation_id FROM invitation_link WHERE token_hash = :token_hash)
       AND survey_id = :survey_id AND {_OPEN}
    RETURNING id, client_id, language
), response AS (
    INSERT INTO survey_response (id, survey_id, invitation_id, client_id, language, answers,
                                 score, scoring_version, submitted_at, nps, csat, ces)
    SELECT :id, :survey_id, answered.id, answered.client_id, answered.language,
           CAST(:answers AS JSON), :score, :scoring_version, :now, :nps, :csat, :ces
      FROM answered
    RETURNING invitation_id, client_id
), numbered AS (
    INSERT INTO event_sequence (subject, last_value)
    SELECT client_id, 1 FROM response
    ON CONFLICT (subject) DO UPDATE SET last_value = event_sequence.last_value + 1
    RETURNING last_value
), event AS (
    INSERT INTO outbox (event_id, event_type, subject, body, created_at, attempts)
    SELECT :event_id, :event_type, response.client_id,
           replace(replace(:body_head || lpad(last_value::text, 20, '0') || :body_tail,
                           :client_mark, to_json(response.client_id)::text),
                   :invitation_mark, to_json(response.invitation_id)::text),
           :now, 0
      FROM numbered, response
    RETURNING id
)
SELECT id FROM event
""").bindparams(bindparam("now", type_=UTCDateTime()), bindparam("score", type_=ResponseRecord.score.type))

#: SQLite: the first of its four statements.
ANSWER_SQLITE = text(_ANSWER).bindparams(bindparam("now", type_=UTCDateTime()))

#: SQLite, on the submit's own driver connections (``api.fast_submit``): the four writes as
#: **one** statement. Each connection makes, when it opens, a view of its own and an ``INSTEAD
#: OF INSERT`` trigger on it that runs the four in order, each only if the one before changed
#: a row (``changes()`` within a trigger counts its own previous statement; the tally triggers
#: they set off do not count). A lone statement in autocommit takes SQLite's write lock as it
#: starts and commits as it ends, inside one call into SQLite, which gives up the interpreter
#: lock for all of it: the write lock is held for SQLite's own work only — never while the
#: thread that holds it waits for the interpreter between two statements, as it did with four
#: statements between ``BEGIN IMMEDIATE`` and ``COMMIT`` (measured: a median of 0.7 ms, one in
#: ten over 5 ms, with eight request threads). The sequence goes into the outbox body as on
#: PostgreSQL (head, digits, tail). Nothing written shows as no change on the connection.
_SUBMIT_COLUMNS = ("invitation_id", "survey_id", "survey_version", "now", "id", "client_id",
                   "language", "answers", "score", "scoring_version", "nps", "csat", "ces",
                   "subject", "event_id", "event_type", "body_head", "body_tail")
SQLITE_SETUP = (
    "CREATE TEMP VIEW clientloop_submit ({0}) AS SELECT {1}".format(
        ", ".join(_SUBMIT_COLUMNS), ", ".join("NULL" for _ in _SUBMIT_COLUMNS)),
    "CREATE TEMP TRIGGER clientloop_submit_writes INSTEAD OF INSERT ON clientloop_submit\n"
    "BEGIN\n" + re.sub(r":(\w+)", r"NEW.\1", _ANSWER) + ";\n" + """
    INSERT INTO survey_response (id, survey_id, invitation_id, client_id, language, answers,
                                 score, scoring_version, submitted_at, nps, csat, ces)
    SELECT NEW.id, NEW.survey_id, NEW.invitation_id, NEW.client_id, NEW.language, NEW.answers,
           NEW.score, NEW.scoring_version, NEW.now, NEW.nps, NEW.csat, NEW.ces
     WHERE changes() = 1;
    INSERT INTO event_sequence (subject, last_value)
    SELECT NEW.subject, 1 WHERE changes() = 1
        ON CONFLICT (subject) DO UPDATE SET last_value = last_value + 1;
    INSERT INTO outbox (event_id, event_type, subject, body, created_at, attempts)
    SELECT NEW.event_id, NEW.event_type, NEW.subject,
           NEW.body_head || printf('%0""" + str(SEQUENCE_DIGITS) + """d',
               (SELECT last_value FROM event_sequence WHERE subject = NEW.subject))
           || NEW.body_tail, NEW.now, 0
     WHERE changes() = 1;
END""",
)
SAVE_SQLITE = text("INSERT INTO clientloop_submit ({0}) VALUES ({1})".format(
    ", ".join(_SUBMIT_COLUMNS), ", ".join(f":{name}" for name in _SUBMIT_COLUMNS))).bindparams(
    bindparam("now", type_=UTCDateTime()), bindparam("answers", type_=ResponseRecord.answers.type),
    bindparam("score", type_=ResponseRecord.score.type))


def driver_connections(database: Database, *, keep: int) -> DriverConnections | SqliteDriverConnections:
    """The submit's own driver connections to ``database`` (``shared.driver_db``), ``keep`` of
    them kept: psycopg on PostgreSQL; on SQLite ``sqlite3`` connections that each make the
    submit's view and trigger as they open (``SQLITE_SETUP``), so that ``save_response`` writes
    in one statement on them, the process's threads taking turns (:class:`WriteTurns`)."""
    if database.dialect == "postgresql":
        return DriverConnections(database.url, keep=keep)
    drivers = SqliteDriverConnections(database.engine, keep=keep, setup=SQLITE_SETUP)
    drivers.turns = WriteTurns()
    return drivers


class WriteTurns:
    """The SQLite submits of a process's request threads, written in turns, each turn writing
    every submit waiting at its start as **one** statement.

    SQLite has one write lock per database. A thread that finds it taken sleeps in SQLite's busy
    handler — 1 ms, then 2, 5, 10, 15, 20, 25 ms… — however soon the lock is free again: with
    eight request threads submitting, a third of their time went to those sleeps while the lock
    stood free, and one write in a hundred waited a quarter of a second. Here a thread that
    finds no turn under way starts one: it takes every submit waiting (its own among them) and
    writes them on its own connection as one multi-row insert into the submit's view, whose
    trigger runs each row's four writes in order, each row only if its invitation is still open
    when its turn comes (rows of one invitation: the first wins, as between two statements). The
    others wait on the turn, not on SQLite, and find their submit written or start the next turn
    with all that came meanwhile. SQLite's lock is taken once a turn, and waited for only behind
    other processes' writes. Whether each row was written is its response id found afterwards
    (a turn of one: the connection's change count, as for a lone statement). A turn's statement
    that fails leaves none of its rows written; each is then written on its own, so that one
    row's error reaches its own request only."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._waiting: list[_Turn] = []
        self._writing = False

    #: The most rows a turn writes (18 values each: within every SQLite build's limit of 999
    #: values in one statement); the rest wait, in the order they came, for the next turn.
    ROWS = 32

    def write(self, connection, row: Mapping[str, Any]) -> bool:
        """Write ``row`` (``SAVE_SQLITE``'s values) in a turn; whether it was written."""
        mine = _Turn(row)
        with self._changed:
            self._waiting.append(mine)
        while True:
            with self._changed:
                while not mine.done and self._writing:
                    self._changed.wait()
                if mine.done:
                    return mine.outcome()
                self._writing = True
                turn = self._waiting[:self.ROWS]
                del self._waiting[:self.ROWS]
            try:
                for item, outcome in zip(turn, _write_rows(connection, [item.row for item in turn])):
                    item.result = outcome
            finally:
                with self._changed:
                    for item in turn:
                        item.done = True
                    self._writing = False
                    self._changed.notify_all()


class _Turn:
    __slots__ = ("row", "done", "result")

    def __init__(self, row: Mapping[str, Any]) -> None:
        self.row = row
        self.done = False
        self.result: bool | BaseException | None = None

    def outcome(self) -> bool:
        if isinstance(self.result, BaseException):
            raise self.result
        if self.result is None:   # the turn's writer stopped before it ended
            raise RuntimeError("the submit's write did not complete")
        return self.result


def _write_rows(connection, rows: list[Mapping[str, Any]]) -> list[bool | BaseException]:
    """``rows`` written by one statement (``SAVE_SQLITE``) on ``connection``, or each on its own
    if that statement fails: for each, whether it was written, or its error."""
    if len(rows) == 1:
        before = connection.total_changes
        try:
            connection.execute(SAVE_SQLITE, rows[0])
        except Exception as error:  # noqa: BLE001 - the row's own request raises it
            return [error]
        return [connection.total_changes != before]
    try:
        connection.insert_rows(SAVE_SQLITE, rows)
    except Exception:  # noqa: BLE001 - a row refused: none was written; each on its own
        return [_write_rows(connection, [row])[0] for row in rows]
    written = set(connection.execute(
        _written(len(rows)), {f"r{number}": row["id"] for number, row in enumerate(rows)}
    ).scalars())
    return [row["id"] in written for row in rows]


@lru_cache(maxsize=None)
def _written(count: int):
    """Which of ``count`` response ids are stored (``:r0``, ``:r1``…)."""
    return text("SELECT id FROM survey_response WHERE id IN ({0})".format(
        ", ".join(f":r{number}" for number in range(count))))


@dataclass(frozen=True)
class LinkedInvitation:
    """The invitation a link leads to, with its survey's status and version (row locked)."""

    id: str
    survey_id: str
    client_id: str
    language: str
    expires_at: datetime
    answered_at: datetime | None
    revoked_at: datetime | None
    survey_status: str
    survey_version: int


@dataclass(frozen=True)
class StoredResponse:
    """What the submit stored, as the API answers it."""

    id: str
    survey_id: str
    score: Decimal | None
    submitted_at: datetime


def linked_invitation(connection: Connection, token_hash: str) -> LinkedInvitation | None:
    row = connection.execute(LINKED, {"token_hash": token_hash}).first()
    return None if row is None else LinkedInvitation(*row)


class _DefinitionCache:
    """Parsed survey definitions by survey id and version (a version never changes its
    definition); bounded, shared by the threads of a process."""

    def __init__(self, size: int = 512) -> None:
        self._size = size
        self._items: dict[tuple, SurveyDefinition] = {}
        self._lock = threading.Lock()

    def get(self, key: tuple, load: Callable[[], SurveyDefinition]) -> SurveyDefinition:
        found = self._items.get(key)
        if found is not None:
            return found
        definition = load()
        with self._lock:
            if len(self._items) >= self._size:
                self._items.pop(next(iter(self._items)))
            self._items[key] = definition
        return definition

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


definitions = _DefinitionCache()


def definition_for(connection: Connection, survey_id: str, version: int,
                   rules: DefinitionRules) -> SurveyDefinition:
    """The survey's parsed definition at ``version`` (read and parsed on first use only)."""

    def load() -> SurveyDefinition:
        stored, stored_version = connection.execute(DEFINITION, {"id": survey_id}).one()
        if stored_version != version:   # changed meanwhile: parse it, but do not keep it
            raise _Changed(validate_survey_definition(stored, rules))
        return validate_survey_definition(stored, rules)

    try:
        return definitions.get((connection.engine.url, survey_id, version, rules), load)
    except _Changed as changed:
        return changed.definition


class _Changed(Exception):
    def __init__(self, definition: SurveyDefinition) -> None:
        self.definition = definition


def save_response(connection: Connection, invitation: LinkedInvitation, *, response_id: str,
                  answers: Mapping[str, Any], score: Decimal | None, scoring_version: str,
                  first: Mapping[str, int | None], event_data: Mapping[str, Any], now: datetime,
                  service: str, event_type: str) -> StoredResponse | None:
    """Store the response and its event if the invitation is still open (as ``invitation``
    was read); ``None`` when it is not (then nothing is written)."""
    still_open = {"invitation_id": invitation.id, "survey_id": invitation.survey_id,
                  "survey_version": invitation.survey_version, "now": now}
    values = {"id": response_id, "client_id": invitation.client_id,
              "language": invitation.language, "score": score,
              "scoring_version": scoring_version, **first}
    postgresql = connection.dialect.name == "postgresql"
    # SQLite's submit connections (``driver_connections``: the view and trigger, in turns).
    turns = None if postgresql else getattr(connection.engine, "turns", None)
    if postgresql or turns is not None:
        envelope = build_envelope(service=service, event_type=event_type,
                                  subject=invitation.client_id, data=event_data, time=now,
                                  sequence=_SEQUENCE_MARK)
        head, tail = split_at_sequence(envelope)
        event = {"subject": invitation.client_id, "event_id": envelope["id"],
                 "event_type": event_type, "body_head": head, "body_tail": tail}
        if postgresql:
            row = connection.execute(SAVE_PG, {
                **still_open, **values, **event,
                "answers": json.dumps(answers, ensure_ascii=False, separators=(",", ":"))}).first()
            written = row is not None
        else:   # SQLite, one statement in autocommit (``SAVE_SQLITE``), in turns
            written = turns.write(connection, {**still_open, **values, **event, "answers": answers})
        return StoredResponse(response_id, invitation.survey_id, score, now) if written else None
    # SQLite in the caller's transaction (a SQLAlchemy ``Connection``), or on a driver
    # connection in autocommit that takes the write lock for these four statements only.
    with getattr(connection, "write_transaction", nullcontext)():
        if connection.execute(ANSWER_SQLITE, still_open).rowcount != 1:
            return None
        connection.execute(_INSERT_RESPONSE, {**values, "survey_id": invitation.survey_id,
                                              "invitation_id": invitation.id,
                                              "answers": answers, "submitted_at": now})
        record_event_on(connection, platform, service=service, event_type=event_type,
                        subject=invitation.client_id, data=event_data, time=now)
    return StoredResponse(response_id, invitation.survey_id, score, now)


# Built once (its values bound per call), so each call is a compiled-cache hit.
_INSERT_RESPONSE = insert(_response)


#: Markers the event's body carries where :func:`save_by_token`'s statement writes the
#: invitation's id and client (random for each process, so no answer can hold them).
CLIENT_MARK = f"client-{uuid.uuid4().hex}"
INVITATION_MARK = f"invitation-{uuid.uuid4().hex}"

_QUOTED_MARKS = {"client_mark": json.dumps(CLIENT_MARK),
                 "invitation_mark": json.dumps(INVITATION_MARK)}

#: Per engine (or the submit's own driver connections): the survey the process last stored a
#: submit through it for — id, version, parsed definition and the rules that parsed it.
_recent: "weakref.WeakKeyDictionary[Any, tuple]" = weakref.WeakKeyDictionary()


def remember_survey(connection, survey_id: str, version: int, definition: SurveyDefinition,
                    rules: DefinitionRules) -> None:
    """The survey of a submit just stored, for the next submit's guess (PostgreSQL)."""
    _recent[connection.engine] = (survey_id, version, definition, rules)


def recent_survey(connection, rules: DefinitionRules) -> tuple[str, int, SurveyDefinition] | None:
    """The survey the process last stored a submit for through this connection's engine, with
    its definition, or ``None``."""
    found = _recent.get(connection.engine)
    if found is None or (found[3] is not rules and found[3] != rules):
        return None
    return found[0], found[1], found[2]


def save_by_token(connection, token_hash: str, *, survey_id: str, survey_version: int,
                  response_id: str, answers: Mapping[str, Any], score: Decimal | None,
                  scoring_version: str, first: Mapping[str, int | None],
                  event_data: Mapping[str, Any], now: datetime, service: str,
                  event_type: str) -> StoredResponse | None:
    """PostgreSQL: store the response to the link ``token_hash`` and its event in one statement
    (``SAVE_BY_TOKEN_PG``) if its invitation belongs to ``survey_id``, still active at
    ``survey_version``, and is still open; ``None`` when nothing was written (the link is
    another survey's, unknown, used, closed…: the caller reads the link and saves as usual).
    ``event_data`` holds :data:`CLIENT_MARK` and :data:`INVITATION_MARK` where the invitation's
    client and id go."""
    answers_json = json.dumps(answers, ensure_ascii=False, separators=(",", ":"))
    if CLIENT_MARK in answers_json or INVITATION_MARK in answers_json:
        return None
    envelope = build_envelope(service=service, event_type=event_type, subject=CLIENT_MARK,
                              data=event_data, time=now, sequence=_SEQUENCE_MARK)
    head, tail = split_at_sequence(envelope)
    row = connection.execute(SAVE_BY_TOKEN_PG, {
        "token_hash": token_hash, "survey_id": survey_id, "survey_version": survey_version,
        "now": now, "id": response_id, "answers": answers_json, "score": score,
        "scoring_version": scoring_version, **first, "event_id": envelope["id"],
        "event_type": event_type, "body_head": head, "body_tail": tail, **_QUOTED_MARKS
    }).first()
    return None if row is None else StoredResponse(response_id, survey_id, score, now)
