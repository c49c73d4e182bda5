"""Inviting clients from the staff console: search the service's client directory, tick one or
many, invite; each link shown once; a client with an open invitation is a 409 with "Invite
anyway"; the invitations list with revoke and resend."""
from __future__ import annotations

import re

from services.survey.adapters.orm import InvitationRecord
from tests.survey.console.forms import form_fields
from tests.survey.html_check import assert_valid_html
from tests.survey.survey_support import active_survey, create_survey, learn_client

HOSTILE_SCRIPT = "<script>alert(1)</script>"
HOSTILE_ATTR = '"><img src=x onerror=alert(1)>'
LINK = re.compile(r'class="copy-link" id="link-\d+" type="text" readonly value="([^"]+)"')


def invitations(ctx) -> list[InvitationRecord]:
    with ctx.database.transaction() as session:
        rows = session.query(InvitationRecord).order_by(InvitationRecord.created_at).all()
        session.expunge_all()
        return rows


def test_clients_are_searched_ticked_and_invited_with_each_link_shown_once(
        staff_console, survey_ctx, http, staff):
    survey = active_survey(http, staff)
    acme = learn_client(survey_ctx, name="Acme 华为 " + HOSTILE_SCRIPT, language="zh-CN")
    globex = learn_client(survey_ctx, name="Acme Globex" + HOSTILE_ATTR)
    learn_client(survey_ctx, name="Initech")
    archived = learn_client(survey_ctx, name="Acme Archived", status="archived")
    path = f"/console/surveys/{survey['id']}/invite"

    page = assert_valid_html(staff_console.get(path + "?q=acme"))
    assert "2 clients match" in page
    assert archived not in page and "Initech" not in page
    assert HOSTILE_SCRIPT not in page and HOSTILE_ATTR not in page
    assert "Acme 华为 &lt;script&gt;alert(1)&lt;/script&gt;" in page
    fields = form_fields(page, "invite")
    fields.tick("client_ids", acme)

    # Searching again keeps the ticked client.
    searched = staff_console.post(path, fields.set("q", "globex").press("search"))
    assert searched.status_code == 200
    page = assert_valid_html(searched)
    fields = form_fields(page, "invite")
    assert ("client_ids", acme) in fields
    fields.tick("client_ids", globex).set("expires_in_days", "7")

    created = staff_console.post(path, fields.press("invite"))
    assert created.status_code == 200
    assert created.headers["Cache-Control"] == "no-store"
    page = assert_valid_html(created)
    links = LINK.findall(page)
    assert len(links) == 2 and all("/s/" in link for link in links)
    assert HOSTILE_SCRIPT not in page and HOSTILE_ATTR not in page
    rows = invitations(survey_ctx)
    assert {row.client_id for row in rows} == {acme, globex}
    assert {row.language for row in rows} == {"zh-CN", "en"}  # each client's preference
    assert all(row.created_by == "staff-user" for row in rows)
    for link in links:  # the links work: the client's form opens
        assert staff_console.http.get(link.split("localhost", 1)[1]).status_code == 200

    # Not shown again: the list has no link, only its count.
    listed = assert_valid_html(staff_console.get(f"/console/surveys/{survey['id']}/invitations"))
    assert not LINK.findall(listed)
    assert all(link.rsplit("/", 1)[1] not in listed for link in links)


def test_an_open_invitation_makes_it_a_409_with_invite_anyway(staff_console, survey_ctx, http,
                                                              staff):
    survey = active_survey(http, staff)
    client = learn_client(survey_ctx, name="Wanda" + HOSTILE_ATTR)
    path = f"/console/surveys/{survey['id']}/invite"
    fields = form_fields(staff_console.page(path + "?q=wanda"), "invite")
    fields.tick("client_ids", client).set("language", "en")
    assert staff_console.post(path, fields.press("invite")).status_code == 200

    again = staff_console.post(path, fields.press("invite"))
    assert again.status_code == 409
    page = assert_valid_html(again)
    assert "already holds an open invitation" in page
    assert HOSTILE_ATTR not in page and "Wanda&#34;&gt;&lt;img" in page
    assert len(invitations(survey_ctx)) == 1
    anyway = form_fields(page, "invite")
    assert ("client_ids", client) in anyway and anyway.get("language") == "en"
    assert 'name="allow_duplicate" value="1"' in page

    created = staff_console.post(path, anyway.without("op") + [("allow_duplicate", "1")])
    assert created.status_code == 200
    assert len(LINK.findall(created.get_data(as_text=True))) == 1
    assert len(invitations(survey_ctx)) == 2


def test_invalid_invitations_are_shown_with_the_choice_kept(staff_console, survey_ctx, http,
                                                            staff):
    survey = active_survey(http, staff, languages=["zh-CN"], title={"zh-CN": "中文问卷"},
                           intro=None, questions=[{"key": "nps", "type": "nps",
                                                   "text": {"zh-CN": "推荐吗？"}}])
    client = learn_client(survey_ctx, name="Kept client")
    path = f"/console/surveys/{survey['id']}/invite"
    nobody = staff_console.post(path, {"op": "invite", "q": ""})
    assert nobody.status_code == 422
    assert "Tick at least one client" in assert_valid_html(nobody)

    fields = form_fields(staff_console.page(path + "?q=kept"), "invite")
    fields.tick("client_ids", client).set("expires_in_days", "0")
    refused = staff_console.post(path, fields.press("invite"))
    assert refused.status_code == 422
    page = assert_valid_html(refused)
    assert 'href="#field-expires_in_days"' in page
    assert "Must be a whole number of days from 1 to 365." in page
    assert ("client_ids", client) in form_fields(page, "invite")

    unknown = staff_console.post(path, [("client_ids", "not-a-client" + HOSTILE_SCRIPT),
                                        ("op", "invite")])
    assert unknown.status_code == 422
    page = unknown.get_data(as_text=True)
    assert "is not known to the survey service yet" in page and HOSTILE_SCRIPT not in page
    assert invitations(survey_ctx) == []


def test_only_an_active_survey_can_be_sent(staff_console, survey_ctx, http, staff):
    draft = create_survey(http, staff)
    client = learn_client(survey_ctx)
    response = staff_console.get(f"/console/surveys/{draft['id']}/invite")
    assert response.status_code == 303
    posted = staff_console.post(f"/console/surveys/{draft['id']}/invite",
                                {"client_ids": client, "op": "invite"})
    assert posted.status_code == 303
    assert "Only an active survey" in staff_console.page(response.headers["Location"])
    assert invitations(survey_ctx) == []


def test_invitations_are_listed_with_their_state_revoked_and_sent_again(
        staff_console, analyst_console, survey_ctx, http, staff):
    survey = active_survey(http, staff)
    first, second = learn_client(survey_ctx, name="First"), learn_client(survey_ctx, name="Second")
    created = http.post(f"/api/v1/surveys/{survey['id']}/invitations", headers=staff,
                        json={"client_ids": [first, second]}).get_json()["items"]
    by_client = {item["client_id"]: item for item in created}
    listing = f"/console/surveys/{survey['id']}/invitations"
    page = assert_valid_html(staff_console.get(listing))
    assert page.count('class="badge state-open">Open<') == 2
    assert "Send a new link" in page and "Revoke" in page

    revoked = staff_console.post(f"/console/invitations/{by_client[first]['id']}/revoke",
                                 {"version": "1"})
    assert revoked.status_code == 303
    page = staff_console.page(revoked.headers["Location"])
    assert "Invitation revoked" in page and 'state-revoked">Revoked<' in page
    token = by_client[first]["url"].rsplit("/s/", 1)[1]
    assert http.get(f"/s/{token}").status_code == 410

    resent = staff_console.post(f"/console/invitations/{by_client[second]['id']}/resend",
                                {"version": "1"})
    assert resent.status_code == 200
    new_link = LINK.findall(resent.get_data(as_text=True))
    assert len(new_link) == 1 and new_link[0] != by_client[second]["url"]
    assert http.get("/s/" + new_link[0].rsplit("/s/", 1)[1]).status_code == 200

    only_revoked = staff_console.page(listing + "?state=revoked")
    assert "First" in only_revoked and "Second" not in only_revoked

    # An analyst sees the states but no button; a forged revoke is refused.
    page = assert_valid_html(analyst_console.get(listing))
    assert 'state-open">Open<' in page
    assert "Send a new link" not in page and "Revoke<" not in page
    assert "Invite clients" not in page
    forged = analyst_console.post(f"/console/invitations/{by_client[second]['id']}/revoke", {})
    assert forged.status_code == 403
    assert analyst_console.get(f"/console/surveys/{survey['id']}/invite").status_code == 403
    assert http.get("/s/" + new_link[0].rsplit("/s/", 1)[1]).status_code == 200

    # Revoking twice is refused with a message, not an error page.
    again = staff_console.post(f"/console/invitations/{by_client[first]['id']}/revoke", {})
    assert again.status_code == 303
    assert "cannot be revoked while it is Revoked" in staff_console.page(listing)


def test_the_invitation_list_is_paged_in_sql(staff_console, survey_ctx, http, staff):
    survey = active_survey(http, staff)
    clients = [learn_client(survey_ctx, name=f"Client {number:02d}") for number in range(27)]
    assert http.post(f"/api/v1/surveys/{survey['id']}/invitations", headers=staff,
                     json={"client_ids": clients}).status_code == 201
    listing = f"/console/surveys/{survey['id']}/invitations"
    first = staff_console.page(listing)
    second = staff_console.page(listing + "?page=2")
    assert first.count('<th scope="row">Client') == 25
    assert second.count('<th scope="row">Client') == 2
    assert "26–27 of 27" in second
