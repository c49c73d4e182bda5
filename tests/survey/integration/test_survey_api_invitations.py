"""Invitations: personal links for one client or many, shown once, listed, revoked, resent."""
from __future__ import annotations

import json
import uuid

from sqlalchemy import func, select, text

from services.survey.adapters.orm import InvitationLinkRecord, InvitationRecord
from services.survey.domain.invitations import hash_token
from shared.events import validate_data
from tests.conftest import auth, make_token
from tests.survey.survey_support import (active_survey, client_data, client_event,
                                         create_survey, deliver, invite, learn_client, outbox,
                                         token_of)


def count(ctx, model) -> int:
    with ctx.database.transaction() as session:
        return session.execute(select(func.count()).select_from(model)).scalar_one()


def test_one_client_gets_a_link_in_their_preferred_language_shown_once(http, staff, survey_ctx):
    survey = active_survey(http, staff)
    client_id = learn_client(survey_ctx, language="zh-CN")
    response = http.post(f"/api/v1/surveys/{survey['id']}/invitations", headers=staff,
                         json={"client_id": client_id})
    assert response.status_code == 201
    [item] = response.get_json()["items"]
    assert item["client_id"] == client_id and item["language"] == "zh-CN"
    assert item["url"].startswith("http://localhost/s/")
    assert item["state"] == "open" and item["delivery"] == "none"
    token = token_of(item["url"])
    assert len(token) >= 43  # 32 random bytes, URL-safe base64
    with survey_ctx.database.transaction() as session:
        hashes = session.execute(select(InvitationLinkRecord.token_hash)).scalars().all()
        dump = "\n".join(str(row) for table in ("invitation", "invitation_link", "outbox")
                         for row in session.execute(text(f"SELECT * FROM {table}")).all())
    assert hashes == [hash_token(token)]
    assert token not in dump
    listed = http.get(f"/api/v1/surveys/{survey['id']}/invitations", headers=staff).get_json()
    assert listed["total"] == 1 and "url" not in listed["items"][0]
    assert listed["items"][0]["client_name"] == "Acme 华为"


def test_the_invitation_event_is_valid_and_never_carries_the_link(http, staff, survey_ctx):
    survey = active_survey(http, staff)
    client_id = learn_client(survey_ctx)
    item = invite(http, staff, survey["id"], client_id, language="zh-CN", expires_in_days=7)
    [event] = outbox(survey_ctx, "survey.invitation.created")
    assert event["subject"] == client_id
    assert event["data"] == {"invitation_id": item["id"], "survey_id": survey["id"],
                             "client_id": client_id, "language": "zh-CN",
                             "expires_at": item["expires_at"], "delivery": "none"}
    validate_data("survey.invitation.created", event["data"])
    assert token_of(item["url"]) not in json.dumps(event)


def test_many_clients_at_once_in_order(http, staff, survey_ctx):
    survey = active_survey(http, staff)
    ids = [learn_client(survey_ctx, name=f"Client {n}") for n in range(3)]
    response = http.post(f"/api/v1/surveys/{survey['id']}/invitations", headers=staff,
                         json={"client_ids": ids, "language": "en"})
    assert response.status_code == 201
    items = response.get_json()["items"]
    assert [item["client_id"] for item in items] == ids
    assert len({item["url"] for item in items}) == 3


def test_an_unknown_client_makes_the_whole_request_422_naming_it_with_retry_after(
        http, staff, survey_ctx):
    survey = active_survey(http, staff)
    known = learn_client(survey_ctx)
    stranger = str(uuid.uuid4())
    response = http.post(f"/api/v1/surveys/{survey['id']}/invitations", headers=staff,
                         json={"client_ids": [known, stranger]})
    assert response.status_code == 422
    assert response.headers["Retry-After"] == "1"
    assert list(response.get_json()["errors"]) == ["client_ids.1"]
    single = http.post(f"/api/v1/surveys/{survey['id']}/invitations", headers=staff,
                       json={"client_id": stranger})
    assert single.status_code == 422 and list(single.get_json()["errors"]) == ["client_id"]
    assert single.headers["Retry-After"] == "1"
    assert count(survey_ctx, InvitationRecord) == 0
    assert outbox(survey_ctx, "survey.invitation.created") == []


def test_a_client_known_only_by_its_tier_is_not_known_yet(http, staff, survey_ctx):
    survey = active_survey(http, staff)
    client_id = str(uuid.uuid4())
    deliver(survey_ctx, client_event("client.value.changed", client_id, {"client_id": client_id, "tier": "A"}))
    response = http.post(f"/api/v1/surveys/{survey['id']}/invitations", headers=staff,
                         json={"client_id": client_id})
    assert response.status_code == 422 and response.headers["Retry-After"] == "1"


def test_archived_clients_are_refused_without_retry_after(http, staff, survey_ctx):
    survey = active_survey(http, staff)
    client_id = learn_client(survey_ctx)
    deliver(survey_ctx, client_event("client.archived", client_id, {"client_id": client_id}))
    response = http.post(f"/api/v1/surveys/{survey['id']}/invitations", headers=staff,
                         json={"client_id": client_id})
    assert response.status_code == 422 and "Retry-After" not in response.headers
    assert "archived" in response.get_json()["errors"]["client_id"][0]


def test_invitation_body_errors(http, staff, survey_ctx):
    survey = active_survey(http, staff, languages=["en"], title={"en": "Only English"},
                           intro=None, questions=[{"key": "q", "type": "nps", "text": {"en": "Q?"}}])
    client_id = learn_client(survey_ctx)
    url = f"/api/v1/surveys/{survey['id']}/invitations"
    cases = [
        ({}, "client_id"),
        ({"client_id": client_id, "client_ids": [client_id]}, "client_id"),
        ({"client_id": "not-a-uuid"}, "client_id"),
        ({"client_ids": []}, "client_ids"),
        ({"client_ids": [client_id, client_id]}, "client_ids.1"),
        ({"client_id": client_id, "language": "zh-CN"}, "language"),
        ({"client_id": client_id, "language": "fr"}, "language"),
        ({"client_id": client_id, "expires_in_days": 0}, "expires_in_days"),
        ({"client_id": client_id, "expires_in_days": 366}, "expires_in_days"),
        ({"client_id": client_id, "expires_in_days": "7"}, "expires_in_days"),
        ({"client_id": client_id, "expires_in_days": True}, "expires_in_days"),
        ({"client_id": client_id, "link": "x"}, "link"),
    ]
    for body, field in cases:
        response = http.post(url, headers=staff, json=body)
        assert response.status_code == 422, (body, response.get_json())
        assert field in response.get_json()["errors"], (body, response.get_json())
    assert count(survey_ctx, InvitationRecord) == 0


def test_only_active_surveys_take_invitations(http, staff, survey_ctx):
    draft = create_survey(http, staff)
    client_id = learn_client(survey_ctx)
    response = http.post(f"/api/v1/surveys/{draft['id']}/invitations", headers=staff,
                         json={"client_id": client_id})
    assert response.status_code == 409
    assert response.get_json()["allowed_actions"] == ["edit", "publish"]
    missing = http.post(f"/api/v1/surveys/{uuid.uuid4()}/invitations", headers=staff,
                        json={"client_id": client_id})
    assert missing.status_code == 404


def test_revoke_stops_every_link_and_is_refused_twice(http, staff, survey_ctx):
    survey = active_survey(http, staff)
    item = invite(http, staff, survey["id"], learn_client(survey_ctx))
    stale = http.post(f"/api/v1/invitations/{item['id']}/revoke",
                      headers={**staff, "If-Match": '"9"'})
    assert stale.status_code == 412
    revoked = http.post(f"/api/v1/invitations/{item['id']}/revoke", headers=staff)
    assert revoked.status_code == 200
    assert revoked.get_json()["state"] == "revoked" and revoked.get_json()["revoked_at"]
    assert revoked.headers["ETag"] == '"2"'
    again = http.post(f"/api/v1/invitations/{item['id']}/revoke", headers=staff)
    assert again.status_code == 409 and again.get_json()["allowed_actions"] == []
    page = http.get(f"/s/{token_of(item['url'])}")
    assert page.status_code == 410
    assert http.post(f"/api/v1/invitations/{uuid.uuid4()}/revoke", headers=staff).status_code == 404


def test_resend_issues_a_new_link_and_the_earlier_one_keeps_working(http, staff, survey_ctx):
    survey = active_survey(http, staff)
    item = invite(http, staff, survey["id"], learn_client(survey_ctx))
    resent = http.post(f"/api/v1/invitations/{item['id']}/resend", headers=staff)
    assert resent.status_code == 200
    body = resent.get_json()
    assert body["url"] != item["url"] and body["links"] == 2 and body["version"] == 2
    assert http.get(f"/s/{token_of(item['url'])}").status_code == 200
    assert http.get(f"/s/{token_of(body['url'])}").status_code == 200
    answered = http.post("/api/v1/public/responses", json={
        "token": token_of(item["url"]), "answers": {"recommend": 10, "satisfied": 5}})
    assert answered.status_code == 201
    assert http.get(f"/s/{token_of(body['url'])}").status_code == 410
    refused = http.post(f"/api/v1/invitations/{item['id']}/resend", headers=staff)
    assert refused.status_code == 409


def test_an_expired_invitation_is_listed_as_expired_and_cannot_be_resent(http, survey_ctx, clock):
    staff = auth(make_token(survey_ctx.settings, "staff", days=10))
    survey = active_survey(http, staff)
    item = invite(http, staff, survey["id"], learn_client(survey_ctx), expires_in_days=1)
    open_item = invite(http, staff, survey["id"], learn_client(survey_ctx), expires_in_days=3)
    clock.advance(days=2)
    url = f"/api/v1/surveys/{survey['id']}/invitations"
    expired = http.get(f"{url}?state=expired", headers=staff).get_json()
    assert [i["id"] for i in expired["items"]] == [item["id"]]
    still_open = http.get(f"{url}?state=open", headers=staff).get_json()
    assert [i["id"] for i in still_open["items"]] == [open_item["id"]]
    assert http.post(f"/api/v1/invitations/{item['id']}/resend", headers=staff).status_code == 409
    assert http.get(f"/s/{token_of(item['url'])}").status_code == 410


def test_the_list_filters_by_client(http, staff, survey_ctx):
    survey = active_survey(http, staff)
    first, second = learn_client(survey_ctx), learn_client(survey_ctx)
    invite(http, staff, survey["id"], first)
    invite(http, staff, survey["id"], second)
    listed = http.get(f"/api/v1/surveys/{survey['id']}/invitations?client_id={second}",
                      headers=staff).get_json()
    assert [i["client_id"] for i in listed["items"]] == [second]


def without_url(body: dict) -> dict:
    if "items" in body:
        return {**body, "items": [without_url(item) for item in body["items"]]}
    return {key: value for key, value in body.items() if key != "url"}


def test_an_idempotency_key_replay_answers_the_first_answer_without_links_and_creates_nothing(
        http, staff, survey_ctx):
    survey = active_survey(http, staff)
    client_id = learn_client(survey_ctx)
    headers = {**staff, "Idempotency-Key": "invite-42"}
    url = f"/api/v1/surveys/{survey['id']}/invitations"
    first = http.post(url, headers=headers, json={"client_id": client_id})
    assert first.status_code == 201
    links_before = count(survey_ctx, InvitationLinkRecord)
    again = http.post(url, headers=headers, json={"client_id": client_id})
    assert again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "first answer" in again.headers["Links-Withheld"]
    [item] = again.get_json()["items"]
    assert "url" in item and item["url"] is None
    assert without_url(again.get_json()) == without_url(first.get_json())
    assert count(survey_ctx, InvitationLinkRecord) == links_before == 1
    assert count(survey_ctx, InvitationRecord) == 1
    assert len(outbox(survey_ctx, "survey.invitation.created")) == 1
    with survey_ctx.database.transaction() as session:
        stored = session.execute(text("SELECT response_body FROM idempotency_key")).scalars().all()
    [first_item] = first.get_json()["items"]
    assert token_of(first_item["url"]) not in stored[0] and "url" not in stored[0]
    assert http.get(f"/s/{token_of(first_item['url'])}").status_code == 200
    other = http.post(url, headers=headers, json={"client_id": learn_client(survey_ctx)})
    assert other.status_code == 422 and "Idempotency-Key" in other.get_json()["errors"]
    assert count(survey_ctx, InvitationLinkRecord) == 1


def test_a_replayed_bulk_invitation_creates_no_link(http, staff, survey_ctx):
    survey = active_survey(http, staff)
    clients = [learn_client(survey_ctx) for _ in range(3)]
    headers = {**staff, "Idempotency-Key": "invite-many"}
    url = f"/api/v1/surveys/{survey['id']}/invitations"
    first = http.post(url, headers=headers, json={"client_ids": clients, "language": "en",
                                                  "expires_in_days": 7})
    assert first.status_code == 201
    assert count(survey_ctx, InvitationLinkRecord) == 3
    http.post(f"/api/v1/invitations/{first.get_json()['items'][0]['id']}/revoke", headers=staff)
    again = http.post(url, headers=headers, json={"client_ids": clients, "language": "en",
                                                  "expires_in_days": 7})
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert "Links-Withheld" in again.headers
    assert [item["url"] for item in again.get_json()["items"]] == [None, None, None]
    assert without_url(again.get_json()) == without_url(first.get_json())
    assert count(survey_ctx, InvitationLinkRecord) == 3 and count(survey_ctx, InvitationRecord) == 3
    other = http.post(url, headers=headers, json={"client_ids": clients[:2]})
    assert other.status_code == 422 and "Idempotency-Key" in other.get_json()["errors"]
    assert count(survey_ctx, InvitationLinkRecord) == 3


def test_a_replayed_resend_creates_no_link(http, staff, survey_ctx):
    survey = active_survey(http, staff)
    item = invite(http, staff, survey["id"], learn_client(survey_ctx))
    resend = f"/api/v1/invitations/{item['id']}/resend"
    first = http.post(resend, headers={**staff, "Idempotency-Key": "resend-1"})
    assert first.status_code == 200 and first.get_json()["url"]
    assert count(survey_ctx, InvitationLinkRecord) == 2
    again = http.post(resend, headers={**staff, "Idempotency-Key": "resend-1"})
    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    assert "Links-Withheld" in again.headers and again.headers["ETag"] == first.headers["ETag"]
    assert again.get_json()["url"] is None
    assert without_url(again.get_json()) == without_url(first.get_json())
    assert count(survey_ctx, InvitationLinkRecord) == 2
    assert http.get(f"/api/v1/surveys/{survey['id']}/invitations",
                    headers=staff).get_json()["items"][0]["version"] == first.get_json()["version"]
    other = http.post(resend, headers={**staff, "Idempotency-Key": "resend-1"},
                      json={"note": "different"})
    assert other.status_code == 422 and "Idempotency-Key" in other.get_json()["errors"]
    assert count(survey_ctx, InvitationLinkRecord) == 2


def test_a_late_registry_update_never_hides_a_newer_language(http, staff, survey_ctx):
    survey = active_survey(http, staff)
    client_id = str(uuid.uuid4())
    deliver(survey_ctx, client_event("client.updated", client_id,
                                     client_data(client_id, language="zh-CN"), sequence=5))
    deliver(survey_ctx, client_event("client.registered", client_id,
                                     client_data(client_id, language="en"), sequence=1))
    assert invite(http, staff, survey["id"], client_id)["language"] == "zh-CN"
