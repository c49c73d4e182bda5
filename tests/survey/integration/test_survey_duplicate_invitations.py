"""One open invitation per client and survey: a second is a 409 naming the first, unless
``allow_duplicate``; bulk requests are all-or-nothing; the complaint follow-up skips a client who
already holds one; simultaneous creates for one client make exactly one (SQLite and PostgreSQL).
"""
from __future__ import annotations

import logging
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

from services.survey import service
from services.survey.adapters.orm import InvitationLinkRecord, InvitationRecord
from tests.conftest import auth, make_token
from tests.survey.integration.test_survey_events_in import follow_up_survey, resolved
from tests.survey.survey_support import (FULL_ANSWERS, active_survey, deliver, invite,
                                         learn_client, outbox, token_of)

SIMULTANEOUS = 8


def invitations_of(ctx, client_id: str) -> list[InvitationRecord]:
    with ctx.database.transaction() as session:
        return list(session.execute(select(InvitationRecord)
                                    .where(InvitationRecord.client_id == client_id)
                                    .order_by(InvitationRecord.created_at)).scalars())


def counts(ctx) -> tuple[int, int, int]:
    """Invitations, links and invitation events in the database."""
    with ctx.database.transaction() as session:
        invitations = session.execute(select(func.count()).select_from(InvitationRecord)).scalar_one()
        links = session.execute(select(func.count()).select_from(InvitationLinkRecord)).scalar_one()
    return invitations, links, len(outbox(ctx, "survey.invitation.created"))


def create(http, headers, survey_id: str, **body):
    return http.post(f"/api/v1/surveys/{survey_id}/invitations", headers=headers, json=body)


def test_a_second_open_invitation_is_a_409_naming_the_open_one_and_creates_nothing(
        http, staff, survey_ctx):
    survey = active_survey(http, staff)
    client_id = learn_client(survey_ctx)
    first = invite(http, staff, survey["id"], client_id)
    before = counts(survey_ctx)
    response = create(http, staff, survey["id"], client_id=client_id)
    assert response.status_code == 409
    assert response.mimetype == "application/problem+json"
    problem = response.get_json()
    assert first["id"] in problem["errors"]["client_id"][0]
    assert problem["open_invitations"] == [{"id": first["id"], "client_id": client_id,
                                            "created_at": first["created_at"],
                                            "expires_at": first["expires_at"]}]
    assert "allow_duplicate" in problem["detail"]
    assert counts(survey_ctx) == before


def test_a_bulk_request_with_one_open_invitation_creates_none_and_names_its_position(
        http, staff, survey_ctx):
    survey = active_survey(http, staff)
    ids = [learn_client(survey_ctx, name=f"Client {n}") for n in range(3)]
    held = invite(http, staff, survey["id"], ids[1])
    before = counts(survey_ctx)
    response = create(http, staff, survey["id"], client_ids=ids)
    assert response.status_code == 409
    problem = response.get_json()
    assert list(problem["errors"]) == ["client_ids.1"]
    assert [item["id"] for item in problem["open_invitations"]] == [held["id"]]
    assert counts(survey_ctx) == before
    assert invitations_of(survey_ctx, ids[0]) == [] and invitations_of(survey_ctx, ids[2]) == []


def test_allow_duplicate_invites_anyway_one_client_or_many(http, staff, survey_ctx):
    survey = active_survey(http, staff)
    ids = [learn_client(survey_ctx, name=f"Client {n}") for n in range(2)]
    first = invite(http, staff, survey["id"], ids[0])
    second = invite(http, staff, survey["id"], ids[0], allow_duplicate=True)
    assert second["id"] != first["id"] and second["state"] == "open"
    bulk = create(http, staff, survey["id"], client_ids=ids, allow_duplicate=True)
    assert bulk.status_code == 201, bulk.get_data(as_text=True)
    assert len(invitations_of(survey_ctx, ids[0])) == 3
    # Both links of the first client work: each answers its own invitation.
    assert http.get(f"/s/{token_of(first['url'])}").status_code == 200
    assert http.get(f"/s/{token_of(second['url'])}").status_code == 200


@pytest.mark.parametrize("value", ["true", 1, 0, "yes", None])
def test_allow_duplicate_is_a_json_boolean(http, staff, survey_ctx, value):
    survey = active_survey(http, staff)
    client_id = learn_client(survey_ctx)
    response = create(http, staff, survey["id"], client_id=client_id, allow_duplicate=value)
    assert response.status_code == 422
    assert list(response.get_json()["errors"]) == ["allow_duplicate"]
    assert invitations_of(survey_ctx, client_id) == []


def test_an_answered_revoked_or_expired_invitation_is_not_open(http, survey_ctx, clock):
    staff = auth(make_token(survey_ctx.settings, "staff", days=10))
    survey = active_survey(http, staff)
    answered, revoked, expired = (learn_client(survey_ctx) for _ in range(3))
    item = invite(http, staff, survey["id"], answered)
    assert http.post("/api/v1/public/responses", json={
        "token": token_of(item["url"]), "answers": FULL_ANSWERS}).status_code == 201
    item = invite(http, staff, survey["id"], revoked)
    assert http.post(f"/api/v1/invitations/{item['id']}/revoke", headers=staff).status_code == 200
    invite(http, staff, survey["id"], expired, expires_in_days=1)
    clock.advance(days=1)  # expires_at == now: expired
    response = create(http, staff, survey["id"], client_ids=[answered, revoked, expired])
    assert response.status_code == 201, response.get_data(as_text=True)


def test_an_open_invitation_to_another_survey_does_not_count(http, staff, survey_ctx):
    client_id = learn_client(survey_ctx)
    invite(http, staff, active_survey(http, staff)["id"], client_id)
    invite(http, staff, active_survey(http, staff)["id"], client_id)


def test_unknown_clients_are_reported_before_open_invitations(http, staff, survey_ctx):
    survey = active_survey(http, staff)
    held = learn_client(survey_ctx)
    invite(http, staff, survey["id"], held)
    response = create(http, staff, survey["id"], client_ids=[held, str(uuid.uuid4())])
    assert response.status_code == 422
    assert list(response.get_json()["errors"]) == ["client_ids.1"]


def test_the_follow_up_skips_a_client_who_holds_an_open_invitation_and_logs_it(
        http, staff, survey_ctx, caplog):
    survey = follow_up_survey(http, staff)
    client_id = learn_client(survey_ctx)
    held = invite(http, staff, survey["id"], client_id)
    complaint_id = str(uuid.uuid4())
    with caplog.at_level(logging.INFO, logger="clientloop.survey.consumers"):
        assert deliver(survey_ctx, resolved(client_id, complaint_id))
    assert [item.id for item in invitations_of(survey_ctx, client_id)] == [held["id"]]
    [record] = [r for r in caplog.records if r.name == "clientloop.survey.consumers"]
    assert (record.levelno, record.complaint_id, record.invitation_id) == (
        logging.INFO, complaint_id, held["id"])
    # Once the open one is answered, the next resolved complaint invites again.
    assert http.post("/api/v1/public/responses", json={
        "token": token_of(held["url"]), "answers": FULL_ANSWERS}).status_code == 201
    later = str(uuid.uuid4())
    assert deliver(survey_ctx, resolved(client_id, later))
    assert [item.complaint_id for item in invitations_of(survey_ctx, client_id)] == [None, later]


def test_a_follow_up_invitation_counts_as_open_for_staff(http, staff, survey_ctx):
    survey = follow_up_survey(http, staff)
    client_id = learn_client(survey_ctx)
    assert deliver(survey_ctx, resolved(client_id))
    [follow_up] = invitations_of(survey_ctx, client_id)
    response = create(http, staff, survey["id"], client_id=client_id)
    assert response.status_code == 409
    assert response.get_json()["open_invitations"][0]["id"] == follow_up.id


def test_simultaneous_creates_for_one_client_make_exactly_one(survey_app, staff, survey_ctx):
    http = survey_app.test_client()
    survey = active_survey(http, staff)
    client_id = learn_client(survey_ctx)
    others = [learn_client(survey_ctx) for _ in range(SIMULTANEOUS)]
    start = threading.Barrier(SIMULTANEOUS)

    def attempt(number: int):
        start.wait()
        body = ({"client_id": client_id} if number % 2 else
                {"client_ids": [others[number], client_id]})  # bulk and single requests mixed
        return survey_app.test_client().post(f"/api/v1/surveys/{survey['id']}/invitations",
                                             headers=staff, json=body)

    with ThreadPoolExecutor(SIMULTANEOUS) as pool:
        answers = list(pool.map(attempt, range(SIMULTANEOUS)))
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [201] + [409] * (SIMULTANEOUS - 1), [a.get_json() for a in answers]
    [winner] = [answer.get_json() for answer in answers if answer.status_code == 201]
    invitations = invitations_of(survey_ctx, client_id)
    assert [item.id for item in invitations] == [
        item["id"] for item in winner["items"] if item["client_id"] == client_id]
    for answer in answers:
        if answer.status_code == 409:
            assert answer.get_json()["open_invitations"][0]["id"] == invitations[0].id
    assert counts(survey_ctx)[0] == len(winner["items"])


def test_a_follow_up_waits_for_a_create_in_progress_then_skips_the_client(
        http, staff, survey_ctx):
    """A staff create holds the survey's lock until it commits; the follow-up queues behind it
    and then sees the new invitation (without the lock it would not, and invite again)."""
    survey = follow_up_survey(http, staff)
    client_id = learn_client(survey_ctx)
    with ThreadPoolExecutor(1) as pool:
        with survey_ctx.database.transaction() as session:
            service.invite_clients(session, survey["id"], [client_id], field_name="client_id",
                                   language=None, expires_in_days=None, by="staff-user",
                                   now=survey_ctx.clock(), link_base="http://localhost",
                                   delivery=service.Delivery())
            applied = pool.submit(deliver, survey_ctx, resolved(client_id))
            time.sleep(0.5)
            assert not applied.done()  # queued behind the create
        assert applied.result(timeout=30) is True
    [invitation] = invitations_of(survey_ctx, client_id)
    assert (invitation.created_by, invitation.complaint_id) == ("staff-user", None)


def test_the_openapi_document_describes_allow_duplicate_and_the_409(http):
    document = http.get("/openapi.json").get_json()
    operation = document["paths"]["/api/v1/surveys/{survey_id}/invitations"]["post"]
    body = operation["requestBody"]["content"]["application/json"]["schema"]
    schema = document["components"]["schemas"][body["$ref"].rsplit("/", 1)[1]]
    assert schema["properties"]["allow_duplicate"]["type"] == "boolean"
    assert schema["properties"]["allow_duplicate"]["default"] is False
    conflict = operation["responses"]["409"]["content"]["application/problem+json"]["schema"]
    problem = document["components"]["schemas"][conflict["$ref"].rsplit("/", 1)[1]]
    assert "open_invitations" in problem["properties"]
