"""Events the survey service consumes: the client directory and closed-loop follow-up."""
from __future__ import annotations

import dataclasses
import uuid

import pytest
from sqlalchemy import event as sa_event
from sqlalchemy import select

from services.survey.adapters.orm import ClientEntry, InvitationRecord, ResponseRecord
from services.survey.app import build_context, event_handlers
from shared.bus.consumer import apply_batch
from shared.bus.envelope import Event, format_sequence
from shared.bus.topology import SUBSCRIPTIONS
from shared.errors import UnknownClient
from shared.events import validate_data
from shared.migrations import upgrade
from tests.survey.survey_support import (FULL_ANSWERS, active_survey, client_data,
                                         client_event, deliver, invite, learn_client, outbox,
                                         survey_fields, token_of)


def entry(ctx, client_id) -> ClientEntry | None:
    with ctx.database.transaction() as session:
        return session.get(ClientEntry, client_id)


def resolved(client_id: str, complaint_id: str | None = None) -> Event:
    complaint_id = complaint_id or str(uuid.uuid4())
    data = {"complaint_id": complaint_id, "ref": "CMP-000042", "client_id": client_id,
            "severity": "high", "resolution_code": "fixed", "root_cause": "process",
            "within_sla": True, "time_to_resolve_s": 3600.0, "waiting_s": 0.0}
    validate_data("complaint.resolved", data)
    return Event(id=str(uuid.uuid4()), type="complaint.resolved", source="clientloop/complaints",
                 subject=client_id, time=client_event("x", client_id, {}).time,
                 sequence="00000000000000000001", data=data)


def test_the_service_handles_exactly_what_it_subscribes_to(survey_ctx):
    assert set(event_handlers(survey_ctx)) == set(SUBSCRIPTIONS["survey"])


def test_registry_events_are_valid_examples(survey_ctx):
    client_id = str(uuid.uuid4())
    validate_data("client.registered", client_data(client_id, email="a@example.com"))


def test_late_events_never_overwrite_newer_ones(survey_ctx):
    client_id = str(uuid.uuid4())
    deliver(survey_ctx, client_event("client.updated", client_id,
                                     client_data(client_id, name="New name", tier="A"), sequence=4))
    deliver(survey_ctx, client_event("client.value.changed", client_id,
                                     {"client_id": client_id, "tier": "B"}, sequence=3))
    deliver(survey_ctx, client_event("client.registered", client_id,
                                     client_data(client_id, name="Old name", tier="C"), sequence=1))
    known = entry(survey_ctx, client_id)
    assert (known.name, known.tier, known.known) == ("New name", "A", True)
    deliver(survey_ctx, client_event("client.value.changed", client_id,
                                     {"client_id": client_id, "tier": "B"}, sequence=6))
    deliver(survey_ctx, client_event("client.archived", client_id, {"client_id": client_id},
                                     sequence=7))
    deliver(survey_ctx, client_event("client.updated", client_id,
                                     client_data(client_id, status="active"), sequence=5))
    known = entry(survey_ctx, client_id)
    assert (known.tier, known.status) == ("B", "archived")


def test_value_changes_applied_together_end_as_applied_one_by_one(survey_ctx):
    """The consumer's batches: several ``client.value.changed`` in one transaction (the
    directory read by one statement), out of order, with a duplicate and a client not known
    yet, leave each entry as applying them one at a time does."""
    def registered(tier: str) -> str:  # at sequence 1: every change below is newer
        client_id = str(uuid.uuid4())
        deliver(survey_ctx, client_event("client.registered", client_id,
                                         client_data(client_id, tier=tier), sequence=1))
        return client_id

    first, second, unknown = registered("C"), registered("C"), str(uuid.uuid4())

    def changed(client_id: str, tier: str, sequence: int) -> Event:
        return client_event("client.value.changed", client_id,
                            {"client_id": client_id, "tier": tier}, sequence=sequence)

    late = changed(first, "B", 100)
    events = [changed(first, "A", 101), late, changed(second, "B", 102), late,
              changed(unknown, "B", 103), changed(unknown, "A", 104), changed(second, "A", 99)]
    handler = event_handlers(survey_ctx)["client.value.changed"]
    assert getattr(handler, "apply_many", None) is not None  # the consumer batches them
    statements: list[str] = []
    sa_event.listen(survey_ctx.database.engine, "before_cursor_execute",
                    lambda _conn, _cursor, statement, *_rest: statements.append(statement))
    assert apply_batch(survey_ctx.database, survey_ctx.tables, event_handlers(survey_ctx),
                       events, now=survey_ctx.clock()) == [True] * 3 + [False] + [True] * 3
    reads = [statement for statement in statements
             if statement.lstrip().startswith("SELECT") and "FROM survey_client" in statement]
    assert len(reads) == 1, reads
    assert [(entry(survey_ctx, client_id).tier, entry(survey_ctx, client_id).known)
            for client_id in (first, second, unknown)] == [("A", True), ("B", True), ("A", False)]

    # The same events one by one, on other clients, end the same way.
    one, two, three = registered("C"), registered("C"), str(uuid.uuid4())
    for client_id, tier, sequence in ((one, "A", 101), (one, "B", 100), (two, "B", 102),
                                      (three, "B", 103), (three, "A", 104), (two, "A", 99)):
        deliver(survey_ctx, changed(client_id, tier, sequence))
    assert [(entry(survey_ctx, client_id).tier, entry(survey_ctx, client_id).known)
            for client_id in (one, two, three)] == [("A", True), ("B", True), ("A", False)]


def test_a_duplicate_event_is_applied_once(survey_ctx):
    client_id = str(uuid.uuid4())
    event = client_event("client.registered", client_id, client_data(client_id))
    assert deliver(survey_ctx, event) is True
    assert deliver(survey_ctx, event) is False


def test_erasure_scrubs_the_directory_and_free_text_but_keeps_scores(http, staff, survey_ctx):
    survey = active_survey(http, staff)
    client_id = learn_client(survey_ctx, email="li@example.com", name="Li Wei")
    answered = invite(http, staff, survey["id"], client_id)
    pending = invite(http, staff, survey["id"], client_id, allow_duplicate=True)
    reply = http.post("/api/v1/public/responses",
                      json={"token": token_of(answered["url"]), "answers": FULL_ANSWERS})
    score = reply.get_json()["score"]
    deliver(survey_ctx, client_event("client.erased", client_id, {"client_id": client_id}, sequence=50))
    deliver(survey_ctx, client_event("client.updated", client_id,
                                     client_data(client_id, name="Li Wei", email="li@example.com"),
                                     sequence=40))
    erased = entry(survey_ctx, client_id)
    assert (erased.name, erased.contacts, erased.status) == (None, [], "erased")
    with survey_ctx.database.transaction() as session:
        response = session.execute(select(ResponseRecord)).scalar_one()
        assert "comment" not in response.answers and response.answers["recommend"] == 9
        assert float(response.score) == score
        assert session.get(InvitationRecord, pending["id"]).revoked_at is not None
    assert http.get(f"/s/{token_of(pending['url'])}").status_code == 410
    csv_text = http.get(f"/api/v1/surveys/{survey['id']}/responses?format=csv",
                        headers=staff).get_data(as_text=True)
    assert "很好 good" not in csv_text
    refused = http.post(f"/api/v1/surveys/{survey['id']}/invitations", headers=staff,
                        json={"client_id": client_id})
    assert refused.status_code == 422


def test_an_erasure_before_registration_keeps_the_client_erased(survey_ctx):
    client_id = str(uuid.uuid4())
    deliver(survey_ctx, client_event("client.erased", client_id, {"client_id": client_id}, sequence=9))
    deliver(survey_ctx, client_event("client.registered", client_id,
                                     client_data(client_id, name="Should not appear"), sequence=1))
    erased = entry(survey_ctx, client_id)
    assert erased.name is None and erased.status == "erased"


def follow_up_survey(http, staff):
    return active_survey(http, staff, send_after_complaint_resolved=True,
                         title={"zh-CN": "投诉回访", "en": "After your complaint"})


def test_a_resolved_complaint_invites_its_client_to_the_follow_up_survey_once(http, staff, survey_ctx):
    active_survey(http, staff)  # not marked: never used for follow-ups
    survey = follow_up_survey(http, staff)
    client_id = learn_client(survey_ctx, language="zh-CN")
    complaint_id = str(uuid.uuid4())
    assert deliver(survey_ctx, resolved(client_id, complaint_id))
    assert deliver(survey_ctx, resolved(client_id, complaint_id))  # re-resolved: another event
    listed = http.get(f"/api/v1/surveys/{survey['id']}/invitations", headers=staff).get_json()
    assert listed["total"] == 1
    [item] = listed["items"]
    assert (item["client_id"], item["language"], item["complaint_id"]) == (client_id, "zh-CN", complaint_id)
    assert (item["created_by"], item["delivery"], item["links"]) == ("system", "none", 0)
    [event] = outbox(survey_ctx, "survey.invitation.created")
    validate_data("survey.invitation.created", event["data"])
    resent = http.post(f"/api/v1/invitations/{item['id']}/resend", headers=staff)
    assert resent.status_code == 200 and http.get(f"/s/{token_of(resent.get_json()['url'])}").status_code == 200


def test_no_follow_up_survey_means_no_invitation(http, staff, survey_ctx):
    active_survey(http, staff)
    draft = http.post("/api/v1/surveys", headers=staff, json=survey_fields(send_after_complaint_resolved=True))
    assert draft.status_code == 201
    client_id = learn_client(survey_ctx)
    assert deliver(survey_ctx, resolved(client_id))
    with survey_ctx.database.transaction() as session:
        assert session.execute(select(InvitationRecord)).first() is None


def test_a_complaint_for_a_client_not_known_yet_is_retried(http, staff, survey_ctx):
    follow_up_survey(http, staff)
    client_id = str(uuid.uuid4())
    event = resolved(client_id)
    with pytest.raises(UnknownClient):
        deliver(survey_ctx, event)
    learn_client(survey_ctx, client_id)
    assert deliver(survey_ctx, event) is True
    with survey_ctx.database.transaction() as session:
        assert session.execute(select(InvitationRecord.client_id)).scalar_one() == client_id


def test_archived_clients_get_no_follow_up(http, staff, survey_ctx):
    follow_up_survey(http, staff)
    client_id = learn_client(survey_ctx)
    deliver(survey_ctx, client_event("client.archived", client_id, {"client_id": client_id}))
    assert deliver(survey_ctx, resolved(client_id))
    with survey_ctx.database.transaction() as session:
        assert session.execute(select(InvitationRecord)).first() is None


@pytest.fixture(params=["sqlite", "postgresql"])
def directory_ctx(request, survey_settings, clock):
    settings = survey_settings
    if request.param == "postgresql":
        settings = settings.with_overrides(database_urls={
            **settings.database_urls, "survey": request.getfixturevalue("postgres_url")})
    upgrade("survey", settings.database_url("survey"))
    ctx = build_context(settings, clock=clock)
    yield ctx
    ctx.extras["delivery_worker"].stop()
    ctx.database.dispose()


def _statements(ctx) -> list[str]:
    statements: list[str] = []
    sa_event.listen(ctx.database.engine, "before_cursor_execute",
                    lambda _conn, _cursor, statement, *_rest: statements.append(statement))
    return statements


def _changed(client_id: str, tier: str | None, sequence: int | None = None) -> Event:
    event = client_event("client.value.changed", client_id, {"client_id": client_id, "tier": tier},
                         sequence=sequence or 1)
    return event if sequence is not None else dataclasses.replace(event, sequence=None)


def test_a_known_clients_value_change_is_one_update_that_keeps_the_newest_tier(directory_ctx):
    """A value change for a known client is one ``UPDATE`` of its entry (no read of it first)
    that decides as the sequences say: an older or equally old change leaves the tier alone, a
    newer one takes it (``None`` included); the profile is untouched."""
    ctx = directory_ctx
    client_id = str(uuid.uuid4())
    deliver(ctx, client_event("client.registered", client_id,
                              client_data(client_id, tier="C"), sequence=5))
    statements = _statements(ctx)
    assert deliver(ctx, _changed(client_id, "A", 7))
    own = [statement for statement in statements if "survey_client" in statement]
    assert len(own) == 1 and own[0].lstrip().startswith("UPDATE survey_client"), own
    assert (entry(ctx, client_id).tier, entry(ctx, client_id).tier_sequence) == (
        "A", format_sequence(7))
    for tier, sequence in (("B", 6), ("B", 7)):   # older, then as old: nothing changes
        deliver(ctx, _changed(client_id, tier, sequence))
        assert entry(ctx, client_id).tier == "A"
    deliver(ctx, _changed(client_id, None, 12))
    known = entry(ctx, client_id)
    assert (known.tier, known.tier_sequence, known.known, known.name) == (
        None, format_sequence(12), True, "Acme 华为")
    # No sequence (not from the registry): applied whatever is stored, through the entry.
    deliver(ctx, _changed(client_id, "C"))
    assert (entry(ctx, client_id).tier, entry(ctx, client_id).tier_sequence) == ("C", None)
    deliver(ctx, _changed(client_id, "B", 2))   # then any numbered change is newer
    assert entry(ctx, client_id).tier == "B"


def test_the_update_compares_sequences_as_python_does(directory_ctx):
    """The statement's comparison of sequences is the consumer's own (character by character,
    whatever the database's collation): for each pair, the entry ends as ``_is_newer`` says."""
    ctx = directory_ctx
    pairs = [("00000000000000000010", "00000000000000000009"), ("B", "a"), ("a", "B"),
             ("Z9", "z1"), ("é", "f"), ("f", "é"), ("10", "9"), ("abc", "abd")]
    for stored, incoming in pairs:
        client_id = str(uuid.uuid4())
        deliver(ctx, client_event("client.registered", client_id,
                                  client_data(client_id, tier="C"), sequence=1))
        deliver(ctx, dataclasses.replace(_changed(client_id, "B", 2), sequence=stored))
        deliver(ctx, dataclasses.replace(_changed(client_id, "A", 3), sequence=incoming))
        expected = ("A", incoming) if incoming > stored else ("B", stored)
        assert (entry(ctx, client_id).tier, entry(ctx, client_id).tier_sequence) == expected, (
            stored, incoming)


def test_a_batch_of_value_changes_is_one_read_and_one_update_and_ends_as_one_by_one(directory_ctx):
    """A batch reads which clients are known (one statement) and writes each known client's
    newest change (one statement for all of them); ties go to the first of equals, unknown
    clients are created, a change without a sequence goes through the entry — and every entry
    ends as the same events applied one at a time leave it."""
    ctx = directory_ctx

    def registered() -> str:
        client_id = str(uuid.uuid4())
        deliver(ctx, client_event("client.registered", client_id,
                                  client_data(client_id, tier="C"), sequence=1))
        return client_id

    def scenario(ids):
        first, second, third, unknown, unnumbered = ids
        return [_changed(first, "A", 10), _changed(second, "B", 20), _changed(first, "B", 10),
                _changed(third, "A", 1), _changed(unknown, "B", 5), _changed(second, "A", 19),
                _changed(unnumbered, "A", 8), _changed(unknown, "A", 4), _changed(unnumbered, "B")]

    def new_ids():
        return [registered(), registered(), registered(), str(uuid.uuid4()), registered()]

    together = new_ids()
    handlers = event_handlers(ctx)
    statements = _statements(ctx)
    assert apply_batch(ctx.database, ctx.tables, handlers, scenario(together),
                       now=ctx.clock()) == [True] * 9
    own = [statement.lstrip().split()[0] for statement in statements
           if "survey_client" in statement]
    # the known ones; the three numbered clients' one update; the unnumbered client's locked
    # read; then the ORM's writes (the unknown client created, the unnumbered one updated)
    assert own[:3] == ["SELECT", "UPDATE", "SELECT"], own
    assert own.count("SELECT") == 2, own

    alone = new_ids()
    for event in scenario(alone):
        deliver(ctx, event)

    def state(client_id):
        known = entry(ctx, client_id)
        return known.tier, known.tier_sequence, known.known

    assert [state(client_id) for client_id in together] == [state(client_id) for client_id in alone]
    assert [state(client_id)[0] for client_id in together] == ["A", "B", "C", "B", "B"]
