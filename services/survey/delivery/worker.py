"""The email delivery step: sends invitation emails after the transaction that queued them.

An invitation to be emailed is stored with ``delivery_status = "pending"``. The step, run by a
background thread woken when such a transaction commits and by the periodic jobs as a safety
net, takes each due invitation in three short steps:

1. **claim** it (``pending`` → ``sending``; a conditional update, so two processes never both
   send) and issue a **new link** for the email in the same transaction — the token lives only
   in memory and in the message, the database keeps its hash;
2. **send** the message over SMTP, outside any transaction;
3. record the outcome: ``sent`` with the time, or back to ``pending`` with the error (retried
   with backoff, ``failed`` after the last attempt).

The link is never lost: each attempt sends a link issued for it, and a link whose message may
or may not have left is kept (it is harmless: its token exists nowhere else). A process that
dies while ``sending`` leaves the invitation to be claimed again after ``STALE_AFTER``. An
invitation answered, revoked, expired or closed before its email left is ``cancelled``.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select, update

from services.survey import service
from services.survey.adapters.orm import ClientEntry, InvitationRecord, SurveyRecord
from services.survey.delivery import email
from services.survey.domain.invitations import LinkState, link_state
from shared.clock import as_utc

log = logging.getLogger("clientloop.survey.delivery")

#: Wait before attempt n+1 (the first is immediate); the last failure marks ``failed``.
BACKOFF = (timedelta(seconds=0), timedelta(minutes=1), timedelta(minutes=5),
           timedelta(minutes=30), timedelta(hours=2))
STALE_AFTER = timedelta(minutes=10)
BATCH = 50


@dataclass(frozen=True)
class Claimed:
    invitation_id: str
    attempt: int
    to_address: str
    to_name: str | None
    language: str
    title: str
    url: str
    expires_at: datetime


def due_invitation_ids(ctx, now: datetime) -> list[str]:
    with ctx.database.transaction() as session:
        rows = session.execute(
            select(InvitationRecord.id, InvitationRecord.delivery_status,
                   InvitationRecord.delivery_attempts, InvitationRecord.delivery_claimed_at)
            .where(or_(InvitationRecord.delivery_status == "pending",
                       InvitationRecord.delivery_status == "sending"))
            .order_by(InvitationRecord.created_at).limit(BATCH * 4)).all()
    due = []
    for invitation_id, status, attempts, claimed_at in rows:
        claimed_at = as_utc(claimed_at)
        if status == "sending":
            if claimed_at is None or now - claimed_at >= STALE_AFTER:
                due.append(invitation_id)
        elif claimed_at is None or attempts == 0 \
                or now - claimed_at >= BACKOFF[min(attempts, len(BACKOFF) - 1)]:
            due.append(invitation_id)
    return due[:BATCH]


def claim(ctx, invitation_id: str, now: datetime) -> Claimed | None:
    """Take one invitation for sending and issue the email's link; None if not ours to send."""
    with ctx.database.transaction() as session:
        invitation = session.get(InvitationRecord, invitation_id)
        if invitation is None or invitation.delivery_status not in ("pending", "sending"):
            return None
        attempt = invitation.delivery_attempts + 1
        taken = session.execute(
            update(InvitationRecord)
            .where(InvitationRecord.id == invitation_id,
                   InvitationRecord.delivery_status == invitation.delivery_status,
                   InvitationRecord.delivery_attempts == invitation.delivery_attempts)
            .values(delivery_status="sending", delivery_attempts=attempt,
                    delivery_claimed_at=now)
            .execution_options(synchronize_session=False)).rowcount
        if taken != 1:
            return None
        session.refresh(invitation)
        survey = session.get(SurveyRecord, invitation.survey_id)
        client = session.get(ClientEntry, invitation.client_id)
        name, address = service.recipient_of(client)
        if link_state(service.dates_of(invitation), survey.status, now) is not LinkState.OPEN \
                or client is None or client.erased_at is not None:
            invitation.delivery_status = "cancelled"
            return None
        if address is None:
            invitation.delivery_status = "failed"
            invitation.delivery_error = "The client has no contact with an email address."
            return None
        token = service.add_link(session, invitation, "email", now)
        definition = service.definition_of(survey)
        return Claimed(invitation_id=invitation.id, attempt=attempt, to_address=address,
                       to_name=name, language=invitation.language,
                       title=definition.title.get(invitation.language)
                       or definition.title[definition.default_language],
                       url=service.link_url(invitation.link_base, token),
                       expires_at=as_utc(invitation.expires_at))


def record_outcome(ctx, claimed: Claimed, now: datetime, error: str | None) -> None:
    with ctx.database.transaction() as session:
        invitation = session.get(InvitationRecord, claimed.invitation_id)
        if invitation is None or invitation.delivery_attempts != claimed.attempt \
                or invitation.delivery_status != "sending":
            return  # another attempt took over, or the invitation was answered meanwhile
        if error is None:
            invitation.delivery_status = "sent"
            invitation.delivered_at = now
            invitation.delivery_error = None
        else:
            invitation.delivery_status = "failed" if claimed.attempt >= len(BACKOFF) else "pending"
            invitation.delivery_error = error[:1000]


def deliver_due(ctx, now: datetime | None = None) -> int:
    """Send every invitation email that is due; returns how many were sent."""
    settings = ctx.settings
    if not settings.smtp_url:
        return 0
    timezone = ZoneInfo(settings.timezone)
    sent = 0
    for invitation_id in due_invitation_ids(ctx, now or ctx.clock()):
        claimed = claim(ctx, invitation_id, ctx.clock())
        if claimed is None:
            continue
        error = None
        try:
            message = email.compose_invitation(
                sender=settings.smtp_sender, to_address=claimed.to_address,
                to_name=claimed.to_name, language=claimed.language, title=claimed.title,
                url=claimed.url, expires=claimed.expires_at, timezone=timezone)
            email.send(settings.smtp_url, message)
            sent += 1
        except Exception as exc:  # noqa: BLE001 - any failure is recorded and retried
            error = f"{type(exc).__name__}: {exc}"
            log.warning("invitation email not sent", extra={"invitation_id": invitation_id,
                                                            "error": error})
        record_outcome(ctx, claimed, ctx.clock(), error)
    return sent


class DeliveryWorker:
    """A daemon thread that runs :func:`deliver_due` whenever a commit queued an email."""

    def __init__(self, ctx) -> None:
        self.ctx = ctx
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def wake(self) -> None:
        if not self.ctx.settings.smtp_url or self._stop.is_set():
            return
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="survey-delivery",
                                                daemon=True)
                self._thread.start()
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(30.0)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                deliver_due(self.ctx)
            except Exception:  # noqa: BLE001 - the periodic jobs retry; never kill the thread
                log.exception("invitation delivery failed")

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)


def install_delivery_hook(session_factory, worker: DeliveryWorker) -> None:
    """Wake the worker after a commit whose transaction queued an invitation email."""
    from sqlalchemy import event

    @event.listens_for(session_factory, "after_commit")
    def _after_commit(session):
        if session.info.pop(service.DELIVERY_QUEUED, False):
            worker.wake()

    @event.listens_for(session_factory, "after_rollback")
    def _after_rollback(session):
        session.info.pop(service.DELIVERY_QUEUED, None)
