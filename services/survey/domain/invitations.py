"""Invitations: one client's personal request to answer one survey, reached through links.

A link token is 32 random bytes (256 bits) in URL-safe base64. Only its SHA-256 hex digest is
stored; the token itself is shown once, in the answer that created it, and never enters an
event or a log.

A link is in one of these states, the first that applies winning:

| state      | when                                                       | answer            |
|------------|------------------------------------------------------------|-------------------|
| `answered` | the invitation has a response                              | 410               |
| `revoked`  | staff revoked the invitation                               | 410               |
| `closed`   | the survey is not active (closed)                          | 410               |
| `expired`  | ``now`` ≥ ``expires_at``                                   | 410               |
| `open`     | otherwise                                                  | the form          |

"Answered" wins so that a client who submitted is thanked rather than told the link expired.

Decisions the specification leaves open:

* Staff may revoke or resend only an ``open`` invitation; resending issues a new link and
  leaves the expiry as it is (every link of an invitation shares it). To reach an expired
  client, staff create a new invitation.
* The language asked for must be one the survey is offered in (422 naming ``language``);
  without one, the client's preferred language if offered, else the survey's default.
* A client holds at most one ``open`` invitation to a survey unless staff ask for another
  (``allow_duplicate``): a second one would leave two live links, two reminders and a response
  rate counted twice. The follow-up after a resolved complaint skips such a client.
"""
from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Mapping, Protocol

from shared.clock import isoformat_z
from shared.errors import ActionNotAllowed, Conflict, Gone, ValidationFailed

from .lifecycle import SurveyStatus


@dataclass(frozen=True)
class InvitationRules:
    default_expiry_days: int = 30
    min_expiry_days: int = 1
    max_expiry_days: int = 365
    token_bytes: int = 32


DEFAULT_INVITATION_RULES = InvitationRules()


class LinkState(StrEnum):
    OPEN = "open"
    ANSWERED = "answered"
    REVOKED = "revoked"
    CLOSED = "closed"
    EXPIRED = "expired"


class InvitationAction(StrEnum):
    REVOKE = "revoke"
    RESEND = "resend"


#: What the page says for each unusable state; nothing about the client.
GONE_MESSAGES: dict[LinkState, str] = {
    LinkState.ANSWERED: "This survey has already been answered through this invitation. "
                        "Thank you!",
    LinkState.REVOKED: "This survey link has been withdrawn.",
    LinkState.CLOSED: "This survey is closed and no longer accepts answers.",
    LinkState.EXPIRED: "This survey link has expired.",
}


class InvitationDates(Protocol):
    """What the link rules read from an invitation (an ORM row will do)."""

    expires_at: datetime
    answered_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True)
class Invitation:
    expires_at: datetime
    answered_at: datetime | None = None
    revoked_at: datetime | None = None


@dataclass(frozen=True)
class IssuedLink:
    """A new link: the token to show once, and the hash to store."""

    token: str = field(repr=False)
    token_hash: str


class LinkUnavailable(Gone):
    """The link exists but can no longer be used; ``reason`` is the link's state."""

    def __init__(self, state: LinkState) -> None:
        super().__init__(GONE_MESSAGES[state], reason=state.value)
        self.reason = state.value


@dataclass(frozen=True)
class OpenInvitation:
    """An invitation a client can still answer, as the duplicate check names it."""

    id: str
    client_id: str
    created_at: datetime
    expires_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "client_id": self.client_id,
                "created_at": isoformat_z(self.created_at),
                "expires_at": isoformat_z(self.expires_at)}


class OpenInvitationExists(Conflict):
    """Clients who already hold an open invitation to the survey: a 409 naming, per requested
    field (``client_id`` or ``client_ids.<n>``), the open invitation, and listing them all in
    ``open_invitations``."""

    title = "Open invitation exists"

    def __init__(self, errors: Mapping[str, Sequence[str]],
                 open_invitations: Sequence[OpenInvitation]) -> None:
        count = len(open_invitations)
        who = "The client already holds" if count == 1 else f"{count} clients already hold"
        super().__init__(f"{who} an open invitation to this survey; nothing was created. "
                         'Send "allow_duplicate": true to invite anyway.',
                         open_invitations=[item.to_dict() for item in open_invitations])
        self.errors = {key: list(messages) for key, messages in errors.items()}
        self.open_invitations = list(open_invitations)


def ensure_no_open_invitations(requested: Sequence[tuple[str, str]],
                               open_by_client: Mapping[str, OpenInvitation]) -> None:
    """Refuse the whole request when any requested client already holds an open invitation.

    ``requested`` pairs each client id with the field that named it; ``open_by_client`` is each
    client's open invitation (the newest, if several).
    """
    errors: dict[str, list[str]] = {}
    found: list[OpenInvitation] = []
    for path, client_id in requested:
        invitation = open_by_client.get(client_id)
        if invitation is None:
            continue
        errors[path] = [f"Client {client_id} already holds an open invitation "
                        f"({invitation.id}) to this survey."]
        found.append(invitation)
    if found:
        raise OpenInvitationExists(errors, found)


def issue_link(rules: InvitationRules = DEFAULT_INVITATION_RULES) -> IssuedLink:
    token = secrets.token_urlsafe(rules.token_bytes)
    return IssuedLink(token=token, token_hash=hash_token(token))


def hash_token(token: str) -> str:
    """The stored form of a link token: its SHA-256 digest in hex."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def expires_at(now: datetime, expires_in_days: Any = None,
               rules: InvitationRules = DEFAULT_INVITATION_RULES) -> datetime:
    """When an invitation created at ``now`` expires; refuses a number of days out of range."""
    _require_aware(now)
    days = rules.default_expiry_days if expires_in_days is None else expires_in_days
    if (isinstance(days, bool) or not isinstance(days, int)
            or not rules.min_expiry_days <= days <= rules.max_expiry_days):
        raise ValidationFailed({"expires_in_days": [
            f"Must be a whole number of days from {rules.min_expiry_days} "
            f"to {rules.max_expiry_days}."]})
    return now + timedelta(days=days)


def choose_language(offered: Sequence[str], requested: str | None = None,
                    preferred: str | None = None) -> str:
    """The invitation's language: the one asked for, else the client's, else the survey's."""
    if requested is not None:
        if requested not in offered:
            raise ValidationFailed({"language": [
                f"The survey is offered in {', '.join(offered)} only."]})
        return requested
    if preferred in offered:
        return preferred
    return offered[0]


def link_state(invitation: InvitationDates, survey_status: str, now: datetime) -> LinkState:
    _require_aware(now)
    if invitation.answered_at is not None:
        return LinkState.ANSWERED
    if invitation.revoked_at is not None:
        return LinkState.REVOKED
    if SurveyStatus(survey_status) is not SurveyStatus.ACTIVE:
        return LinkState.CLOSED
    if now >= invitation.expires_at:
        return LinkState.EXPIRED
    return LinkState.OPEN


def ensure_answerable(invitation: InvitationDates, survey_status: str, now: datetime) -> None:
    """Raise ``LinkUnavailable`` (a ``Gone``, with ``reason``) unless the link is open."""
    state = link_state(invitation, survey_status, now)
    if state is not LinkState.OPEN:
        raise LinkUnavailable(state)


def allowed_invitation_actions(state: LinkState) -> list[str]:
    if state is LinkState.OPEN:
        return [action.value for action in InvitationAction]
    return []


def ensure_revocable(invitation: InvitationDates, survey_status: str, now: datetime) -> None:
    _require_open(InvitationAction.REVOKE, invitation, survey_status, now)


def ensure_resendable(invitation: InvitationDates, survey_status: str, now: datetime) -> None:
    _require_open(InvitationAction.RESEND, invitation, survey_status, now)


def _require_open(action: InvitationAction, invitation: InvitationDates, survey_status: str,
                  now: datetime) -> None:
    state = link_state(invitation, survey_status, now)
    if state is not LinkState.OPEN:
        raise ActionNotAllowed(action.value, state.value, allowed_invitation_actions(state),
                               field="state")


def _require_aware(moment: datetime) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("Times must be timezone-aware.")
