import hashlib
from datetime import datetime, timedelta, timezone

import pytest

from services.survey.domain.invitations import (Invitation, InvitationRules, LinkUnavailable,
                                                OpenInvitation, OpenInvitationExists,
                                                choose_language, ensure_answerable,
                                                ensure_no_open_invitations, ensure_resendable,
                                                ensure_revocable, expires_at, hash_token,
                                                issue_link, link_state)
from shared.errors import ActionNotAllowed, Conflict, Gone, ValidationFailed

NOW = datetime(2026, 5, 4, 8, 0, tzinfo=timezone.utc)


def invitation(**overrides) -> Invitation:
    fields = {"expires_at": NOW + timedelta(days=30)}
    return Invitation(**{**fields, **overrides})


def test_a_link_token_carries_at_least_128_random_bits_and_only_its_hash_is_kept():
    link = issue_link()

    assert len(link.token) >= 43                    # 32 bytes in URL-safe base64
    assert link.token_hash == hashlib.sha256(link.token.encode()).hexdigest()
    assert issue_link().token != link.token
    assert link.token not in repr(link)


def test_the_token_hash_is_sha256_in_hex():
    assert hash_token("abc") == ("ba7816bf8f01cfea414140de5dae2223"
                                 "b00361a396177a9cb410ff61f20015ad")


def test_an_invitation_expires_after_30_days_by_default():
    assert expires_at(NOW) == NOW + timedelta(days=30)
    assert expires_at(NOW, rules=InvitationRules(default_expiry_days=7)) == NOW + timedelta(days=7)


@pytest.mark.parametrize("days", [1, 365])
def test_the_expiry_can_be_chosen_from_1_to_365_days(days):
    assert expires_at(NOW, days) == NOW + timedelta(days=days)


@pytest.mark.parametrize("days", [0, 366, -3, True, "7", 2.5])
def test_an_expiry_out_of_range_is_refused(days):
    with pytest.raises(ValidationFailed) as refused:
        expires_at(NOW, days)
    assert refused.value.errors == {
        "expires_in_days": ["Must be a whole number of days from 1 to 365."]}


def test_expiry_needs_an_aware_time():
    with pytest.raises(ValueError):
        expires_at(datetime(2026, 5, 4, 8, 0))


@pytest.mark.parametrize("offered, requested, preferred, chosen", [
    (("zh-CN", "en"), "en", "zh-CN", "en"),
    (("zh-CN", "en"), None, "en", "en"),
    (("zh-CN",), None, "en", "zh-CN"),
    (("en", "zh-CN"), None, None, "en"),
])
def test_the_invitation_language(offered, requested, preferred, chosen):
    assert choose_language(offered, requested, preferred) == chosen


def test_a_language_the_survey_is_not_offered_in_is_refused():
    with pytest.raises(ValidationFailed) as refused:
        choose_language(("zh-CN",), "en", "en")
    assert list(refused.value.errors) == ["language"]


@pytest.mark.parametrize("overrides, survey_status, state", [
    ({}, "active", "open"),
    ({"answered_at": NOW - timedelta(hours=1)}, "active", "answered"),
    ({"revoked_at": NOW - timedelta(hours=1)}, "active", "revoked"),
    ({"expires_at": NOW}, "active", "expired"),
    ({"expires_at": NOW + timedelta(seconds=1)}, "active", "open"),
    ({}, "closed", "closed"),
    ({}, "draft", "closed"),
    # the first state that applies wins: answered, revoked, closed, expired
    ({"answered_at": NOW, "revoked_at": NOW, "expires_at": NOW}, "closed", "answered"),
    ({"revoked_at": NOW, "expires_at": NOW}, "closed", "revoked"),
    ({"expires_at": NOW - timedelta(days=1)}, "closed", "closed"),
])
def test_link_state(overrides, survey_status, state):
    assert link_state(invitation(**overrides), survey_status, NOW) == state


def test_an_open_link_can_be_answered():
    ensure_answerable(invitation(), "active", NOW)


@pytest.mark.parametrize("overrides, survey_status, reason", [
    ({"answered_at": NOW}, "active", "answered"),
    ({"revoked_at": NOW}, "active", "revoked"),
    ({"expires_at": NOW - timedelta(minutes=1)}, "active", "expired"),
    ({}, "closed", "closed"),
])
def test_an_unusable_link_is_gone_and_says_why(overrides, survey_status, reason):
    with pytest.raises(LinkUnavailable) as gone:
        ensure_answerable(invitation(**overrides), survey_status, NOW)
    assert isinstance(gone.value, Gone)
    assert gone.value.reason == reason
    assert gone.value.extra == {"reason": reason}


def test_only_an_open_invitation_can_be_revoked_or_resent():
    ensure_revocable(invitation(), "active", NOW)
    ensure_resendable(invitation(), "active", NOW)
    answered = invitation(answered_at=NOW)
    for ensure in (ensure_revocable, ensure_resendable):
        with pytest.raises(ActionNotAllowed) as refused:
            ensure(answered, "active", NOW)
        assert refused.value.status == "answered"
        assert refused.value.allowed_actions == []


def test_a_request_naming_a_client_with_an_open_invitation_is_refused_whole_naming_each():
    held = OpenInvitation("inv-2", "client-b", NOW, NOW + timedelta(days=30))
    ensure_no_open_invitations([("client_ids.0", "client-a")], {"client-b": held})
    with pytest.raises(OpenInvitationExists) as refused:
        ensure_no_open_invitations([("client_ids.0", "client-a"), ("client_ids.1", "client-b")],
                                   {"client-b": held})
    error = refused.value
    assert isinstance(error, Conflict)
    assert error.errors == {"client_ids.1": [
        "Client client-b already holds an open invitation (inv-2) to this survey."]}
    assert error.extra["open_invitations"] == [{
        "id": "inv-2", "client_id": "client-b", "created_at": "2026-05-04T08:00:00.000000Z",
        "expires_at": "2026-06-03T08:00:00.000000Z"}]
    assert "allow_duplicate" in error.detail
