"""Which bus events the survey service handles, mapped to use cases.

* ``client.registered``, ``client.updated``, ``client.value.changed``, ``client.archived``,
  ``client.erased`` keep the service's own client directory (``survey_client``): who may be
  invited, in which language, at which address. Nothing is ever asked of the registry.
  ``client.value.changed`` follows nearly every response and complaint the registry applies,
  so its handler also takes several at once (``apply_many``: the consumer's batches of what
  the broker already delivered, in one transaction).
* ``complaint.resolved`` invites the client to the survey marked
  ``send_after_complaint_resolved`` (closed-loop follow-up), once per complaint, unless the
  client already holds an open invitation to it.

Out-of-order delivery: each group of fields (profile, tier, status) remembers the ``sequence``
of the event that last set it — the registry numbers its events per client — and an older event
arriving late changes nothing. Erasure is final: once erased, no event brings personal data
back. Every handler is safe to run twice (the consumer also skips a known event id).
"""
from __future__ import annotations

import logging
from datetime import datetime
from functools import lru_cache
from typing import Any, Callable, Mapping

from sqlalchemy import bindparam, case, or_, select, update
from sqlalchemy.orm import Session

from services.survey import service
from services.survey.adapters.orm import (ClientEntry, InvitationRecord, ResponseRecord,
                                          SurveyRecord, platform)
from services.survey.domain.definition import QuestionType
from services.survey.domain.invitations import expires_at
from services.survey.domain.lifecycle import SurveyStatus
from shared.bus.envelope import Event
from shared.erasure import forget_client
from shared.errors import UnknownClient

log = logging.getLogger("clientloop.survey.consumers")

SYSTEM = "system"
PROFILE_FIELDS = ("name", "kind", "category", "preferred_language")
#: Fields of the survey's stored answers and events that hold personal data (blanked there on
#: erasure): the client's name and contacts, a response's comment, an email error (it may
#: quote the address).
PERSONAL_DATA = ("name", "client_name", "contacts", "comment", "delivery_error")


# -- the client directory ------------------------------------------------------------------
def _is_newer(incoming: str | None, stored: str | None) -> bool:
    """Sequences are 20-digit strings, so they compare as strings; an event without one
    (not from the registry) always applies."""
    return incoming is None or stored is None or incoming > stored


def _entry(session: Session, client_id: str, now: datetime, *,
           locked: Mapping[str, ClientEntry] | None = None) -> ClientEntry:
    entry = locked.get(client_id) if locked is not None else session.execute(
        select(ClientEntry).where(ClientEntry.id == client_id)
        .with_for_update()).scalar_one_or_none()
    if entry is None:
        entry = ClientEntry(id=client_id, known=False, contacts=[], status="active",
                            updated_at=now)
        session.add(entry)
        session.flush()
    return entry


def _client_id(event: Event) -> str:
    data = event.data
    client = data.get("client")
    if isinstance(client, Mapping) and client.get("id"):
        return str(client["id"])
    if data.get("client_id"):
        return str(data["client_id"])
    return event.subject


def apply_client_profile(session: Session, event: Event, *, now: datetime) -> None:
    """``client.registered`` / ``client.updated``: the client as the registry holds it."""
    client = event.data.get("client") or {}
    entry = _entry(session, _client_id(event), now)
    if _is_newer(event.sequence, entry.profile_sequence):
        entry.known = True
        entry.kind = client.get("kind")
        entry.category = client.get("category")
        entry.preferred_language = client.get("preferred_language")
        if entry.erased_at is None:
            entry.name = client.get("name")
            entry.contacts = [{"name": contact.get("name"), "email": contact.get("email")}
                              for contact in client.get("contacts") or []
                              if isinstance(contact, Mapping)]
        entry.profile_sequence = event.sequence
        entry.updated_at = now
    if "tier" in client and _is_newer(event.sequence, entry.tier_sequence):
        entry.tier = client.get("tier")
        entry.tier_sequence = event.sequence
    if client.get("status") in ("active", "archived") and entry.erased_at is None \
            and _is_newer(event.sequence, entry.status_sequence):
        entry.status = client["status"]
        entry.status_sequence = event.sequence


def apply_value_changed(session: Session, event: Event, *, now: datetime,
                        locked: dict[str, ClientEntry] | None = None) -> None:
    """``client.value.changed``: the client's tier, if the event is newer than the tier's own.

    A known client's entry is changed by one ``UPDATE`` that compares the sequences in the
    statement (:func:`_tier_update`) — no locked read, no ORM object — when the event carries a
    tier and a sequence and the session holds no object of the entry. Anything else (an unknown
    client, whose entry is created; an event without a sequence) takes the ORM path."""
    client_id = _client_id(event)
    if (locked is None and _updates_in_place(event) and not _held(session, client_id)
            and session.execute(_tier_update(_dialect(session)),
                                _tier_values(client_id, event, now)).rowcount == 1):
        return
    entry = _entry(session, client_id, now, locked=locked)
    if locked is not None:
        locked[entry.id] = entry
    if "tier" in event.data and _is_newer(event.sequence, entry.tier_sequence):
        entry.tier = event.data.get("tier")
        entry.tier_sequence = event.sequence
        entry.updated_at = now


def apply_value_changes(session: Session, events: list[Event], *, now: datetime) -> None:
    """Several ``client.value.changed`` in one transaction (the consumer's batches: the
    registry sends one with nearly every response and complaint it applies), each entry ending
    as applying the events one at a time leaves it.

    One read finds which of the clients are known. Each known client's events come down to one
    — the first of those with the highest sequence: applied in order, no later one is newer
    than it, and it is newer than the stored tier exactly when any of them is — written by one
    ``UPDATE`` (:func:`_tier_update`) for all such clients, in client id order (two consumers
    lock entries in the same order and never deadlock). Unknown clients' entries are created,
    and a client with an event the statement cannot take (no sequence) is read with a row lock
    and applied through its ORM object, as before."""
    by_client: dict[str, list[Event]] = {}
    for event in events:
        by_client.setdefault(_client_id(event), []).append(event)
    ids = sorted(by_client)
    known = set(session.execute(select(ClientEntry.id).where(ClientEntry.id.in_(ids))).scalars())
    rows, one_by_one = [], []
    for client_id in ids:
        with_tier = [event for event in by_client[client_id] if "tier" in event.data]
        if client_id in known and not _held(session, client_id) and all(
                _updates_in_place(event) for event in with_tier):
            if with_tier:
                newest = max(with_tier, key=lambda event: event.sequence)  # the first of equals
                rows.append(_tier_values(client_id, newest, now))
        else:
            one_by_one.append(client_id)
    if rows:
        session.execute(_tier_update(_dialect(session)), rows)
    if not one_by_one:
        return
    reread = [client_id for client_id in one_by_one if client_id in known]
    locked: dict[str, ClientEntry] = {}
    if reread:
        locked = {entry.id: entry for entry in session.execute(
            select(ClientEntry).where(ClientEntry.id.in_(reread)).order_by(ClientEntry.id)
            .with_for_update().execution_options(populate_existing=True)).scalars()}
    for client_id in one_by_one:
        for event in by_client[client_id]:
            apply_value_changed(session, event, now=now, locked=locked)


def _updates_in_place(event: Event) -> bool:
    """The event can be applied to a known entry by :func:`_tier_update`."""
    return "tier" in event.data and isinstance(event.sequence, str)


def _held(session: Session, client_id: str) -> bool:
    """The session already holds the client's entry as an object (the ORM path keeps it right)."""
    return session.identity_map.get(session.identity_key(ClientEntry, client_id)) is not None


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def _tier_values(client_id: str, event: Event, now: datetime) -> dict[str, Any]:
    return {"client_id": client_id, "tier": event.data.get("tier"), "sequence": event.sequence,
            "now": now}


@lru_cache(maxsize=4)
def _tier_update(dialect: str):
    """``UPDATE survey_client``: tier, its sequence and the entry's time, if ``:sequence`` is
    newer than the stored tier sequence (or there is none), compared as :func:`_is_newer`
    compares them — as strings, character by character (``COLLATE "C"`` on PostgreSQL, whose
    default collation could order other characters differently; SQLite compares bytes)."""
    table = ClientEntry.__table__
    sequence = bindparam("sequence", type_=table.c.tier_sequence.type)
    stored = table.c.tier_sequence
    compared = stored.collate("C") if dialect == "postgresql" else stored
    newer = or_(stored.is_(None), compared < sequence)
    return (update(table).where(table.c.id == bindparam("client_id"))
            .values(tier=case((newer, bindparam("tier", type_=table.c.tier.type)),
                              else_=table.c.tier),
                    tier_sequence=case((newer, sequence), else_=stored),
                    updated_at=case((newer, bindparam("now", type_=table.c.updated_at.type)),
                                    else_=table.c.updated_at)))


def apply_archived(session: Session, event: Event, *, now: datetime) -> None:
    entry = _entry(session, _client_id(event), now)
    if entry.erased_at is None and _is_newer(event.sequence, entry.status_sequence):
        entry.status = "archived"
        entry.status_sequence = event.sequence
        entry.updated_at = now


def apply_erased(session: Session, event: Event, *, now: datetime) -> None:
    """Remove what identifies the person: the directory's name and contacts, the free text of
    their responses and the errors of their invitation emails (they may quote the address);
    stored ``Idempotency-Key`` answers and outbox events about them are scrubbed
    (``shared.erasure``). Scores and choices stay, anonymous. Open invitations are revoked
    and unsent emails cancelled: nobody asks an erased client anything again."""
    client_id = _client_id(event)
    entry = _entry(session, client_id, now)
    entry.name = None
    entry.contacts = []
    entry.status = "erased"
    entry.erased_at = entry.erased_at or now
    entry.status_sequence = max(filter(None, (entry.status_sequence, event.sequence)), default=None)
    entry.updated_at = now
    erase_free_text(session, client_id)
    for invitation in session.execute(select(InvitationRecord).where(
            InvitationRecord.client_id == client_id)).scalars():
        invitation.delivery_error = None
        if invitation.answered_at is not None:
            continue
        if invitation.revoked_at is None:
            invitation.revoked_at = now
            invitation.version += 1
        if invitation.delivery_status in ("pending", "sending"):
            invitation.delivery_status = "cancelled"
    forget_client(session, platform, client_id, personal_fields=PERSONAL_DATA)


def erase_free_text(session: Session, client_id: str) -> int:
    """Drop the ``text`` answers of a client's responses; returns how many responses changed."""
    changed = 0
    definitions: dict[str, Any] = {}
    for response in session.execute(select(ResponseRecord).where(
            ResponseRecord.client_id == client_id)).scalars():
        if response.survey_id not in definitions:
            definitions[response.survey_id] = service.definition_of(
                session.get(SurveyRecord, response.survey_id))
        definition = definitions[response.survey_id]
        text_keys = {q.key for q in definition.questions if q.type is QuestionType.TEXT}
        kept = {key: value for key, value in (response.answers or {}).items()
                if key not in text_keys}
        if kept != response.answers:
            response.answers = kept
            changed += 1
    return changed


# -- closed-loop follow-up -----------------------------------------------------------------
def follow_up_survey(session: Session) -> SurveyRecord | None:
    """The active survey marked for complaint follow-up (the latest published, if several)."""
    return session.execute(
        select(SurveyRecord)
        .where(SurveyRecord.status == SurveyStatus.ACTIVE.value,
               SurveyRecord.send_after_complaint_resolved.is_(True))
        .order_by(SurveyRecord.published_at.desc(), SurveyRecord.id)
        .limit(1)).scalar_one_or_none()


def invite_after_complaint(session: Session, event: Event, *, now: datetime,
                           link_base: str, delivery: service.Delivery,
                           rules: service.SurveyRules = service.DEFAULT_RULES
                           ) -> InvitationRecord | None:
    """Invite the complaint's client to the follow-up survey, once per complaint.

    An unknown client raises ``UnknownClient`` so the event is retried (the registry's events
    usually arrive within a second); an archived or erased client is not invited, nor one who
    already holds an open invitation to the survey (logged, not an error: they can still
    answer that one).
    """
    complaint_id = str(event.data.get("complaint_id") or "")
    client_id = str(event.data.get("client_id") or event.subject or "")
    if not complaint_id or not client_id:
        log.warning("complaint.resolved without complaint_id or client_id ignored",
                    extra={"event_id": event.id})
        return None
    existing = session.execute(select(InvitationRecord).where(
        InvitationRecord.complaint_id == complaint_id)).scalar_one_or_none()
    if existing is not None:
        return existing
    survey = follow_up_survey(session)
    if survey is None:
        return None
    client = session.get(ClientEntry, client_id)
    if client is None or not client.known:
        raise UnknownClient(client_id)
    if client.erased_at is not None or client.status != "active":
        return None
    survey = service.lock_for_invitations(session, survey.id)
    if survey.status != SurveyStatus.ACTIVE.value:  # closed while this handler waited
        return None
    already = service.open_invitations(session, survey.id, [client_id], now).get(client_id)
    if already is not None:
        log.info("follow-up skipped: the client already holds an open invitation", extra={
            "event_id": event.id, "complaint_id": complaint_id, "client_id": client_id,
            "survey_id": survey.id, "invitation_id": already.id})
        return None
    definition = service.definition_of(survey, rules.definition)
    issued = service.new_invitation(
        session, survey, definition, client, language=None,
        expiry=expires_at(now, None, rules.invitations), by=SYSTEM, now=now,
        link_base=link_base, delivery=delivery, complaint_id=complaint_id,
        issue_answer_link=False)
    return issued.invitation


# -- the handler table ---------------------------------------------------------------------
def handlers(*, clock: Callable[[], datetime], link_base: Callable[[], str],
             delivery: service.Delivery, rules: service.SurveyRules = service.DEFAULT_RULES
             ) -> dict[str, Callable[[Session, Event], None]]:
    def directory(apply):
        return lambda session, event: apply(session, event, now=clock())

    def follow_up(session: Session, event: Event) -> None:
        invite_after_complaint(session, event, now=clock(), link_base=link_base(),
                               delivery=delivery, rules=rules)

    value_changed = directory(apply_value_changed)
    value_changed.apply_many = lambda session, events: apply_value_changes(session, events,
                                                                           now=clock())
    return {
        "client.registered": directory(apply_client_profile),
        "client.updated": directory(apply_client_profile),
        "client.value.changed": value_changed,
        "client.archived": directory(apply_archived),
        "client.erased": directory(apply_erased),
        "complaint.resolved": follow_up,
    }
