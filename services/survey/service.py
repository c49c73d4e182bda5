"""Survey use cases: load → call the domain → save → record events, in the caller's unit of work.

Each function runs inside one SQLAlchemy session transaction opened by the caller (a request or
an event handler), so a change and its outbox event commit together or not at all. Link tokens
leave this module only inside ``IssuedInvitation`` values, for the one answer that shows them.
"""
from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Mapping, Sequence

from sqlalchemy import select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.survey.adapters.orm import (ClientEntry, InvitationLinkRecord, InvitationRecord,
                                          SurveyRecord, platform)
from services.survey import submission
from services.survey.domain import lifecycle
from services.survey.domain.answers import DEFAULT_ANSWER_RULES, AnswerRules, validate_answers
from services.survey.domain.definition import (DEFAULT_DEFINITION_RULES, DefinitionRules,
                                               SurveyDefinition, validate_survey_definition)
from services.survey.domain.invitations import (DEFAULT_INVITATION_RULES, Invitation,
                                                InvitationRules, LinkState, LinkUnavailable,
                                                OpenInvitation, choose_language,
                                                ensure_answerable, ensure_no_open_invitations,
                                                ensure_resendable, ensure_revocable, expires_at,
                                                hash_token, issue_link, link_state)
from services.survey.domain.scoring import (DEFAULT_FEEDBACK_RULES, SCORING_VERSION,
                                            FeedbackRules, feedback_fields, first_answers,
                                            score_response)
from services.survey.submission import StoredResponse
from shared.bus.outbox import record_event
from shared.clock import as_utc, isoformat_z
from shared.db import get_or_not_found
from shared.errors import NotFound, ValidationFailed, errors_of
from shared.web.versioning import check_version

SERVICE = "survey"
#: A link token as ``issue_link`` makes them (URL-safe base64); anything else is not a link.
TOKEN_PATTERN = re.compile(r"[A-Za-z0-9_-]{16,128}")
#: ``session.info`` flag: this transaction queued an email; wake the delivery step on commit.
DELIVERY_QUEUED = "survey_delivery_queued"


@dataclass(frozen=True)
class SurveyRules:
    definition: DefinitionRules = DEFAULT_DEFINITION_RULES
    answers: AnswerRules = DEFAULT_ANSWER_RULES
    invitations: InvitationRules = DEFAULT_INVITATION_RULES
    feedback: FeedbackRules = DEFAULT_FEEDBACK_RULES
    max_clients_per_request: int = 1000


DEFAULT_RULES = SurveyRules()


class UnknownClients(ValidationFailed):
    """Client ids this service has not learnt (yet): 422 naming each, with ``Retry-After: 1``."""

    def __init__(self, errors: Mapping[str, Sequence[str]]) -> None:
        super().__init__(errors, detail="One or more clients are not known to this service (yet).")
        self.retry_after = 1


class LinkNotFound(NotFound):
    """No invitation has this link (or it is not a link at all)."""

    def __init__(self) -> None:
        super().__init__("This survey link does not exist.")


@dataclass(frozen=True)
class IssuedInvitation:
    """An invitation and the token of the link issued with it, to be shown once."""

    invitation: InvitationRecord
    token: str = field(repr=False)

    @property
    def url(self) -> str:
        return link_url(self.invitation.link_base, self.token)


@dataclass(frozen=True)
class OpenedLink:
    """What a link leads to."""

    invitation: InvitationRecord
    survey: SurveyRecord
    definition: SurveyDefinition

    def state(self, now: datetime) -> LinkState:
        return link_state(dates_of(self.invitation), self.survey.status, now)


def link_url(link_base: str, token: str) -> str:
    return f"{link_base.rstrip('/')}/s/{token}"


def dates_of(invitation: InvitationRecord) -> Invitation:
    """The invitation's dates, timezone-aware whatever the database gave back."""
    return Invitation(expires_at=as_utc(invitation.expires_at),
                      answered_at=as_utc(invitation.answered_at),
                      revoked_at=as_utc(invitation.revoked_at))


def definition_of(survey: SurveyRecord,
                  rules: DefinitionRules = DEFAULT_DEFINITION_RULES) -> SurveyDefinition:
    return validate_survey_definition(survey.definition, rules)


def _publish(session: Session, event_type: str, subject: str, data: Mapping[str, Any],
             now: datetime) -> None:
    record_event(session, platform, service=SERVICE, event_type=event_type, subject=subject,
                 data=data, time=now)


# -- surveys --------------------------------------------------------------------------------
def get_survey(session: Session, survey_id: str, *, for_update: bool = False) -> SurveyRecord:
    return get_or_not_found(session, SurveyRecord, survey_id, "survey", for_update=for_update)


def create_survey(session: Session, fields: Mapping[str, Any], *, by: str, now: datetime,
                  rules: SurveyRules = DEFAULT_RULES) -> SurveyRecord:
    definition = validate_survey_definition(dict(fields), rules.definition)
    survey = SurveyRecord(id=str(uuid.uuid4()), status=lifecycle.SurveyStatus.DRAFT.value,
                          definition=definition.to_dict(),
                          send_after_complaint_resolved=definition.send_after_complaint_resolved,
                          version=1, created_by=by, created_at=now, updated_at=now)
    session.add(survey)
    session.flush()
    return survey


def update_survey(session: Session, survey_id: str, changes: Mapping[str, Any], *,
                  expected_version: int | None, now: datetime,
                  rules: SurveyRules = DEFAULT_RULES) -> SurveyRecord:
    """Change a draft's definition: the fields given replace the stored ones, then the whole
    definition is validated again (``null`` removes an optional field)."""
    survey = get_survey(session, survey_id, for_update=True)
    check_version(survey.version, expected_version)
    lifecycle.ensure_editable(survey.status)
    merged = {**survey.definition, **changes}
    definition = validate_survey_definition(merged, rules.definition)
    stored = definition.to_dict()
    if stored == survey.definition:
        return survey
    survey.definition = stored
    survey.send_after_complaint_resolved = definition.send_after_complaint_resolved
    survey.version += 1
    survey.updated_at = now
    return survey


def publish_survey(session: Session, survey_id: str, *, expected_version: int | None,
                   now: datetime, rules: SurveyRules = DEFAULT_RULES) -> SurveyRecord:
    survey = get_survey(session, survey_id, for_update=True)
    check_version(survey.version, expected_version)
    definition = definition_of(survey, rules.definition)
    survey.status = lifecycle.publish(survey.status, definition).value
    survey.published_at = now
    survey.updated_at = now
    survey.version += 1
    _publish(session, "survey.published", survey.id, _survey_event(survey.id, definition), now)
    return survey


def close_survey(session: Session, survey_id: str, *, expected_version: int | None,
                 now: datetime, rules: SurveyRules = DEFAULT_RULES) -> SurveyRecord:
    survey = get_survey(session, survey_id, for_update=True)
    check_version(survey.version, expected_version)
    survey.status = lifecycle.close(survey.status).value
    survey.closed_at = now
    survey.updated_at = now
    survey.version += 1
    _publish(session, "survey.closed", survey.id,
             _survey_event(survey.id, definition_of(survey, rules.definition)), now)
    return survey


def _survey_event(survey_id: str, definition: SurveyDefinition) -> dict[str, Any]:
    return {"survey_id": survey_id, "title": dict(definition.title),
            "languages": list(definition.languages)}


# -- invitations ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Delivery:
    """How invitations reach clients: by email when SMTP is configured, else not at all."""

    email_enabled: bool = False


def recipient_of(client: ClientEntry | None) -> tuple[str | None, str | None]:
    """``(name, email)`` of the first contact with an email address."""
    if client is None or client.erased_at is not None:
        return None, None
    for contact in client.contacts or []:
        email = (contact or {}).get("email")
        if email:
            return (contact.get("name") or client.name), email
    return None, None


def invite_clients(session: Session, survey_id: str, client_ids: Sequence[str], *,
                   field_name: str, language: str | None, expires_in_days: Any, by: str,
                   now: datetime, link_base: str, delivery: Delivery,
                   allow_duplicate: bool = False,
                   rules: SurveyRules = DEFAULT_RULES) -> list[IssuedInvitation]:
    """Invite every client or none: a client not known yet names its field (422 with
    ``Retry-After: 1``); an archived or erased client is refused too; a client who already
    holds an open invitation to the survey makes it a 409 naming that invitation, unless
    ``allow_duplicate``."""
    survey = lock_for_invitations(session, survey_id)
    lifecycle.ensure_can_invite(survey.status)
    definition = definition_of(survey, rules.definition)
    clients = clients_by_id(session, client_ids)
    problems, retry = invitation_errors(definition, clients, client_ids, field_name=field_name,
                                        language=language, expires_in_days=expires_in_days,
                                        now=now, rules=rules)
    if problems:
        raise UnknownClients(problems) if retry else ValidationFailed(problems)
    expiry = expires_at(now, expires_in_days, rules.invitations)
    if not allow_duplicate:
        ensure_no_open_invitations(
            [(field_name if field_name == "client_id" else f"{field_name}.{index}", client_id)
             for index, client_id in enumerate(client_ids)],
            open_invitations(session, survey.id, client_ids, now))
    return [new_invitation(session, survey, definition, clients[client_id],
                            language=language, expiry=expiry, by=by, now=now,
                            link_base=link_base, delivery=delivery)
            for client_id in client_ids]


def invitation_errors(definition: SurveyDefinition | None, clients: Mapping[str, ClientEntry],
                      client_ids: Sequence[str], *, field_name: str, language: str | None,
                      expires_in_days: Any, now: datetime, rules: SurveyRules = DEFAULT_RULES
                      ) -> tuple[dict[str, list[str]], bool]:
    """Everything wrong with an invitation request, by field, all at once: the expiry, a
    language the survey is not offered in, clients not known yet, archived or erased. The flag
    is true when clients not known yet are all that is wrong but for other clients' states: a
    422 with ``Retry-After``, as their registration may still be on its way."""
    problems = errors_of(expires_at, now, expires_in_days, rules.invitations)
    if language is not None and definition is not None:
        problems.update(errors_of(choose_language, definition.languages, language))
    unknown: dict[str, list[str]] = {}
    refused: dict[str, list[str]] = {}
    for index, client_id in enumerate(client_ids):
        path = field_name if field_name == "client_id" else f"{field_name}.{index}"
        client = clients.get(client_id)
        if client is None or not client.known:
            unknown[path] = [f"Unknown client {client_id}."]
        elif client.erased_at is not None or client.status != "active":
            refused[path] = [f"Client {client_id} is {client.status}; it cannot be invited."]
    return {**problems, **unknown, **refused}, bool(unknown) and not problems


def lock_for_invitations(session: Session, survey_id: str) -> SurveyRecord:
    """The survey, locked until the transaction ends, so that invitation creates for it queue
    and each one's check for open invitations sees the ones committed before it.

    ``FOR NO KEY UPDATE`` (PostgreSQL): it does not block the key-share locks that inserting an
    invitation or a response takes on the survey, so answering stays free. SQLite serialises
    writers anyway.
    """
    survey = session.execute(
        select(SurveyRecord).where(SurveyRecord.id == survey_id)
        .with_for_update(key_share=True)
        .execution_options(populate_existing=True)).scalar_one_or_none()
    if survey is None:
        raise NotFound(f"No survey with id {survey_id}.")
    return survey


def open_invitations(session: Session, survey_id: str, client_ids: Sequence[str],
                     now: datetime) -> dict[str, OpenInvitation]:
    """Each client's open invitation to the survey (unanswered, unrevoked, unexpired; the
    newest if several), for the clients that hold one. The survey is assumed active."""
    found: dict[str, OpenInvitation] = {}
    ids = list(dict.fromkeys(client_ids))
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        rows = session.execute(
            select(InvitationRecord.id, InvitationRecord.client_id,
                   InvitationRecord.created_at, InvitationRecord.expires_at)
            .where(InvitationRecord.survey_id == survey_id,
                   InvitationRecord.client_id.in_(chunk),
                   InvitationRecord.answered_at.is_(None),
                   InvitationRecord.revoked_at.is_(None),
                   InvitationRecord.expires_at > now)
            .order_by(InvitationRecord.created_at, InvitationRecord.id)).all()
        for row in rows:
            found[row.client_id] = OpenInvitation(row.id, row.client_id, as_utc(row.created_at),
                                                  as_utc(row.expires_at))
    return found


def clients_by_id(session: Session, client_ids: Sequence[str]) -> dict[str, ClientEntry]:
    found: dict[str, ClientEntry] = {}
    ids = list(dict.fromkeys(client_ids))
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        for client in session.execute(select(ClientEntry).where(ClientEntry.id.in_(chunk))).scalars():
            found[client.id] = client
    return found


def new_invitation(session: Session, survey: SurveyRecord, definition: SurveyDefinition,
                    client: ClientEntry, *, language: str | None, expiry: datetime, by: str,
                    now: datetime, link_base: str, delivery: Delivery,
                    complaint_id: str | None = None, issue_answer_link: bool = True
                    ) -> IssuedInvitation:
    chosen = choose_language(definition.languages, language, client.preferred_language)
    _name, email = recipient_of(client)
    by_email = delivery.email_enabled and email is not None
    invitation = InvitationRecord(
        id=str(uuid.uuid4()), survey_id=survey.id, client_id=client.id, language=chosen,
        created_at=now, expires_at=expiry, created_by=by, complaint_id=complaint_id,
        link_base=link_base, delivery="email" if by_email else "none",
        delivery_status="pending" if by_email else "not_requested", delivery_attempts=0,
        version=1)
    session.add(invitation)
    session.flush()
    token = add_link(session, invitation, "answer", now) if issue_answer_link else ""
    _publish(session, "survey.invitation.created", client.id, {
        "invitation_id": invitation.id, "survey_id": survey.id, "client_id": client.id,
        "language": chosen, "expires_at": isoformat_z(expiry), "delivery": invitation.delivery,
    }, now)
    if by_email:
        session.info[DELIVERY_QUEUED] = True
    return IssuedInvitation(invitation, token)


def add_link(session: Session, invitation: InvitationRecord, issued_for: str,
              now: datetime) -> str:
    link = issue_link()
    session.add(InvitationLinkRecord(invitation_id=invitation.id, token_hash=link.token_hash,
                                     issued_for=issued_for, created_at=now))
    session.flush()
    return link.token


def get_invitation(session: Session, invitation_id: str, *,
                   for_update: bool = False) -> InvitationRecord:
    return get_or_not_found(session, InvitationRecord, invitation_id, "invitation",
                            for_update=for_update)


def revoke_invitation(session: Session, invitation_id: str, *, expected_version: int | None,
                      now: datetime) -> InvitationRecord:
    invitation = get_invitation(session, invitation_id, for_update=True)
    check_version(invitation.version, expected_version)
    survey = session.get(SurveyRecord, invitation.survey_id)
    ensure_revocable(dates_of(invitation), survey.status, now)
    invitation.revoked_at = now
    invitation.version += 1
    if invitation.delivery_status == "pending":
        invitation.delivery_status = "cancelled"
    return invitation


def resend_invitation(session: Session, invitation_id: str, *, expected_version: int | None,
                      now: datetime) -> IssuedInvitation:
    """A new link for an open invitation; the earlier links keep working. When the invitation
    is delivered by email, the email step sends another message (with a link of its own)."""
    invitation = get_invitation(session, invitation_id, for_update=True)
    check_version(invitation.version, expected_version)
    survey = session.get(SurveyRecord, invitation.survey_id)
    ensure_resendable(dates_of(invitation), survey.status, now)
    token = add_link(session, invitation, "answer", now)
    invitation.version += 1
    if invitation.delivery == "email":
        invitation.delivery_status = "pending"
        invitation.delivery_attempts = 0
        invitation.delivery_error = None
        session.info[DELIVERY_QUEUED] = True
    return IssuedInvitation(invitation, token)


# -- links and responses -------------------------------------------------------------------
def open_link(session: Session, token: str, *, for_update: bool = False,
              rules: SurveyRules = DEFAULT_RULES) -> OpenedLink:
    """The invitation and survey a link token leads to; ``LinkNotFound`` if none."""
    if not isinstance(token, str) or not TOKEN_PATTERN.fullmatch(token):
        raise LinkNotFound()
    invitation_id = session.execute(
        select(InvitationLinkRecord.invitation_id)
        .where(InvitationLinkRecord.token_hash == hash_token(token))).scalar_one_or_none()
    if invitation_id is None:
        raise LinkNotFound()
    invitation = get_invitation(session, invitation_id, for_update=for_update)
    survey = session.get(SurveyRecord, invitation.survey_id)
    return OpenedLink(invitation, survey, definition_of(survey, rules.definition))


def submit_response(session: Session, token: str, answers: Any, *, now: datetime,
                    rules: SurveyRules = DEFAULT_RULES) -> StoredResponse:
    """Answer the invitation behind ``token``, once, in the session's transaction
    (:func:`submit_on` its connection)."""
    stored = submit_on(session.connection(), token, answers, now=now, rules=rules)
    session.info["outbox_written"] = SERVICE
    return stored


def submit_on(connection: Connection, token: str, answers: Any, *, now: datetime,
              rules: SurveyRules = DEFAULT_RULES) -> StoredResponse:
    """Answer the invitation behind ``token``, once, on ``connection`` — in its transaction, or
    outside any (the write is one atomic statement on PostgreSQL).

    The response is written only if the invitation is still open when it is written
    (``services.survey.submission``): of simultaneous submits of one link one wins and the
    others find it answered. Raises ``LinkNotFound`` (404), ``LinkUnavailable`` (410) or
    ``ValidationFailed`` (422).
    """
    if not isinstance(token, str) or not TOKEN_PATTERN.fullmatch(token):
        raise LinkNotFound()
    token_hash = hash_token(token)
    if connection.dialect.name == "postgresql":
        stored = _submit_to_recent_survey(connection, token_hash, answers, now=now, rules=rules)
        if stored is not None:
            return stored
    for _attempt in range(3):
        invitation = submission.linked_invitation(connection, token_hash)
        if invitation is None:
            raise LinkNotFound()
        ensure_answerable(dates_of(invitation), invitation.survey_status, now)
        definition = submission.definition_for(connection, invitation.survey_id,
                                               invitation.survey_version, rules.definition)
        cleaned = validate_answers(definition, answers, rules.answers)
        score = score_response(definition, cleaned, rules.feedback.places)
        response_id = str(uuid.uuid4())
        try:
            stored = submission.save_response(
                connection, invitation, response_id=response_id, answers=cleaned, score=score,
                scoring_version=SCORING_VERSION, first=first_answers(definition, cleaned).as_dict(),
                event_data=_submitted_data(response_id, invitation.survey_id, invitation.id,
                                           invitation.client_id, now, score, definition,
                                           cleaned, rules),
                now=now, service=SERVICE, event_type="survey.response.submitted")
        except IntegrityError as exc:   # a response row without the invitation marked answered
            raise LinkUnavailable(LinkState.ANSWERED) from exc
        if stored is not None:
            if connection.dialect.name == "postgresql":
                submission.remember_survey(connection, invitation.survey_id,
                                           invitation.survey_version, definition,
                                           rules.definition)
            return stored
        # Not open any more, or its survey changed version meanwhile: look again.
    raise LinkUnavailable(LinkState.CLOSED)


def _submitted_data(response_id: str, survey_id: str, invitation_id: str, client_id: str,
                    now: datetime, score, definition, cleaned: Mapping[str, Any],
                    rules: SurveyRules) -> dict[str, Any]:
    """The ``survey.response.submitted`` event's data."""
    return {
        "response_id": response_id, "survey_id": survey_id,
        "invitation_id": invitation_id, "client_id": client_id,
        "submitted_at": isoformat_z(now),
        "score": None if score is None else float(score),
        "scoring_version": SCORING_VERSION,
        **feedback_fields(definition, cleaned, rules.feedback),
    }


def _submit_to_recent_survey(connection: Connection, token_hash: str, answers: Any, *,
                             now: datetime, rules: SurveyRules) -> StoredResponse | None:
    """PostgreSQL: the submit in one statement, when the link is to the survey this process
    stored its last submit for (on this database) and the answers are valid for it; ``None``
    when that guess does not hold (nothing written: the caller reads the link as usual)."""
    recent = submission.recent_survey(connection, rules.definition)
    if recent is None:
        return None
    survey_id, version, definition = recent
    try:
        cleaned = validate_answers(definition, answers, rules.answers)
    except ValidationFailed:
        return None   # perhaps valid for the link's own survey: the usual path decides
    score = score_response(definition, cleaned, rules.feedback.places)
    response_id = str(uuid.uuid4())
    try:
        return submission.save_by_token(
            connection, token_hash, survey_id=survey_id, survey_version=version,
            response_id=response_id, answers=cleaned, score=score,
            scoring_version=SCORING_VERSION, first=first_answers(definition, cleaned).as_dict(),
            event_data=_submitted_data(response_id, survey_id, submission.INVITATION_MARK,
                                       submission.CLIENT_MARK, now, score, definition, cleaned,
                                       rules),
            now=now, service=SERVICE, event_type="survey.response.submitted")
    except IntegrityError as exc:   # the link's own invitation, with a response row already
        raise LinkUnavailable(LinkState.ANSWERED) from exc

