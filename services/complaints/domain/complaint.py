"""The complaint entity: its workflow, SLA bookkeeping, timeline and the events it publishes.

Every method that changes a complaint takes ``by`` (who), ``now`` (a timezone-aware instant
from the caller's clock) and the :class:`ComplaintRules`; it either raises a domain error and
changes nothing, or applies the change, appends to the timeline, increments ``version`` and
returns the events to publish.

Breaches: a method that changes a complaint first publishes the breaches already due in the
state it found (so acting late, e.g. acknowledging after ``respond_by`` or pausing after
``resolve_by``, publishes the breach even if the periodic job had not yet), then those due in
the state it leaves (a reopen past ``resolve_by``). Each kind is published once per complaint,
ever: a reclassification or a reopen never publishes a kind again.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Callable, ClassVar, Mapping
from uuid import UUID

from shared.errors import ActionNotAllowed, Conflict

from . import sla
from .clock import ensure_utc, whole_seconds
from .events import (
    COMPLAINT_CLOSED, COMPLAINT_OPENED, COMPLAINT_RECLASSIFIED, COMPLAINT_SLA_BREACHED,
    EVENT_BY_ACTION, DomainEvent,
)
from .fields import (
    validate_action_fields, validate_actor, validate_correction, validate_note,
    validate_opening,
)
from .refs import parse_ref
from .rules import DEFAULT_RULES, ComplaintRules
from .vocabulary import SYSTEM_ACTOR
from .workflow import (
    CORRECTABLE_STATUSES, Action, Status, allowed_actions, parse_action, target_status,
)

OPEN = "open"
NOTE = "note"
CORRECT = "correct"
TIMELINE_ACTIONS: tuple[str, ...] = (OPEN, *Action, NOTE, CORRECT)
"""What a timeline entry's ``action`` may say: the opening, a workflow action, an internal
note, or a triage correction."""


@dataclass(frozen=True)
class TimelineEntry:
    """One line of a complaint's history. ``details`` holds the action's fields (JSON values);
    for a correction, ``{field: {"from": old, "to": new}}``."""

    at: datetime
    by: str
    action: str
    from_status: str | None
    to_status: str
    note: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class _Outcome:
    note: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(eq=False)
class Complaint:
    id: UUID
    ref: str
    client_id: UUID
    client_tier: str | None
    """The client's tier when the complaint was opened: the SLA promised then stays."""
    channel: str
    category: str
    severity: str
    title: str
    description: str
    remedy_sought: str | None
    opened_at: datetime
    respond_by: datetime
    resolve_by: datetime
    status: str = Status.NEW
    assignee: str | None = None
    acknowledged_at: datetime | None = None
    resolved_at: datetime | None = None
    """The latest resolution; cleared by a reopen."""
    closed_at: datetime | None = None
    resolution_code: str | None = None
    root_cause: str | None = None
    resolution_summary: str | None = None
    client_accepted: bool | None = None
    waiting_since: datetime | None = None
    """When the current pause began (``awaiting_client``), else ``None``."""
    waiting_s: int = 0
    """Seconds spent awaiting the client, all pauses."""
    pause_extension_s: int = 0
    """Seconds by which pauses moved ``resolve_by`` (kept when deadlines are recomputed)."""
    response_breach_published: bool = False
    resolution_breach_published: bool = False
    reopen_count: int = 0
    version: int = 1
    updated_at: datetime | None = None
    timeline: list[TimelineEntry] = field(default_factory=list)

    # -- reading -------------------------------------------------------------------------

    def allowed_actions(self, now: datetime, rules: ComplaintRules = DEFAULT_RULES
                        ) -> list[Action]:
        return allowed_actions(self.status, self.resolved_at, now, rules)

    def overdue(self, now: datetime) -> bool:
        return sla.overdue(self, now)

    @property
    def time_to_acknowledge_s(self) -> int | None:
        if self.acknowledged_at is None:
            return None
        return whole_seconds(self.acknowledged_at - self.opened_at)

    @property
    def time_to_resolve_s(self) -> int | None:
        if self.resolved_at is None:
            return None
        return sla.time_to_resolve_s(self.opened_at, self.resolved_at)

    @property
    def within_sla(self) -> bool | None:
        """Whether the latest resolution met ``resolve_by``; ``None`` while unresolved."""
        if self.resolved_at is None:
            return None
        return sla.within_sla(self.resolved_at, self.resolve_by)

    # -- workflow ------------------------------------------------------------------------

    def act(self, action: str, fields: Mapping[str, Any] | None, by: str, now: datetime,
            rules: ComplaintRules = DEFAULT_RULES) -> list[DomainEvent]:
        """Apply a workflow action with its fields (see ``fields.ACTION_FIELDS``) and an
        optional ``note`` (added to the timeline entry and the event).

        Raises ``ValidationFailed`` for an unknown action (on ``action``), then
        ``ActionNotAllowed`` (with the allowed list) if the status refuses it, then
        ``ValidationFailed`` naming each missing or invalid field.
        """
        now = ensure_utc(now)
        by = validate_actor(by)
        chosen = parse_action(action)
        allowed = self.allowed_actions(now, rules)
        if chosen not in allowed:
            raise ActionNotAllowed(chosen.value, str(self.status), [a.value for a in allowed])
        cleaned = validate_action_fields(chosen, fields or {}, rules.text_limits)

        events = self._take_due_breaches(now)
        from_status = Status(self.status)
        outcome = self._HANDLERS[chosen](self, cleaned, now)
        self.status = target_status(chosen, from_status)
        self._record(now, by, chosen.value, from_status,
                     _join_notes(outcome.note, cleaned.get("note")), cleaned)
        data = {**self._action_data(by), **cleaned, **outcome.data}
        events.append(self._event(EVENT_BY_ACTION[chosen], now, data))
        events += self._take_due_breaches(now)
        self._touch(now)
        return events

    def _acknowledge(self, fields: Mapping[str, Any], now: datetime) -> _Outcome:
        self.acknowledged_at = now
        return _Outcome(data={"acknowledged_at": now, "respond_by": self.respond_by})

    def _assign(self, fields: Mapping[str, Any], now: datetime) -> _Outcome:
        previous, self.assignee = self.assignee, fields["assignee"]
        return _Outcome(note=f"Assigned to {self.assignee}.",
                        data={"previous_assignee": previous})

    def _start(self, fields: Mapping[str, Any], now: datetime) -> _Outcome:
        return _Outcome()

    def _escalate(self, fields: Mapping[str, Any], now: datetime) -> _Outcome:
        return _Outcome(note=fields["reason"])

    def _wait(self, fields: Mapping[str, Any], now: datetime) -> _Outcome:
        self.waiting_since = now
        return _Outcome(note=fields["reason"])

    def _resume(self, fields: Mapping[str, Any], now: datetime) -> _Outcome:
        paused_at = self.waiting_since or now
        paused_s = sla.pause_seconds(paused_at, now)
        if sla.pause_extends_deadline(self.resolve_by, paused_at):
            self.resolve_by += timedelta(seconds=paused_s)
            self.pause_extension_s += paused_s
        self.waiting_s += paused_s
        self.waiting_since = None
        return _Outcome(data={"paused_s": paused_s, "waiting_s": self.waiting_s})

    def _resolve(self, fields: Mapping[str, Any], now: datetime) -> _Outcome:
        self.resolved_at = now
        self.resolution_code = fields["resolution_code"]
        self.root_cause = fields["root_cause"]
        self.resolution_summary = fields["summary"]
        self.client_accepted = None
        return _Outcome(note=fields["summary"], data={
            "within_sla": self.within_sla,
            "time_to_resolve_s": self.time_to_resolve_s,
            "waiting_s": self.waiting_s,
            "resolved_at": now,
            "reopen_count": self.reopen_count,
        })

    def _close(self, fields: Mapping[str, Any], now: datetime) -> _Outcome:
        self.closed_at = now
        self.client_accepted = fields["client_accepted"]
        note = ("The client accepted the resolution." if self.client_accepted
                else "The client did not accept the resolution.")
        return _Outcome(note=note, data={"automatic": False})

    def _reopen(self, fields: Mapping[str, Any], now: datetime) -> _Outcome:
        self.reopen_count += 1
        self.resolved_at = self.closed_at = None
        self.resolution_code = self.root_cause = self.resolution_summary = None
        self.client_accepted = None
        return _Outcome(note=fields["reason"], data={"reopen_count": self.reopen_count})

    _HANDLERS: ClassVar[Mapping[Action, Callable[[Complaint, Mapping[str, Any], datetime],
                                                 _Outcome]]] = {
        Action.ACKNOWLEDGE: _acknowledge,
        Action.ASSIGN: _assign,
        Action.START: _start,
        Action.ESCALATE: _escalate,
        Action.WAIT: _wait,
        Action.RESUME: _resume,
        Action.RESOLVE: _resolve,
        Action.CLOSE: _close,
        Action.REOPEN: _reopen,
    }

    # -- automatic close -----------------------------------------------------------------

    def auto_close_due(self, now: datetime, rules: ComplaintRules = DEFAULT_RULES) -> bool:
        """Resolved (and not reopened since) for at least ``auto_close_after``.

        As a query: ``status = 'resolved' AND resolved_at <= :now - auto_close_after``.
        """
        return (self.status == Status.RESOLVED and self.resolved_at is not None
                and ensure_utc(now) - self.resolved_at >= rules.auto_close_after)

    def auto_close(self, now: datetime, rules: ComplaintRules = DEFAULT_RULES
                   ) -> list[DomainEvent]:
        """Close by ``system`` with ``client_accepted`` null when due; otherwise do nothing."""
        now = ensure_utc(now)
        if not self.auto_close_due(now, rules):
            return []
        events = self._take_due_breaches(now)
        from_status = Status(self.status)
        self.status = Status.CLOSED
        self.closed_at = now
        self.client_accepted = None
        days = rules.auto_close_after / timedelta(days=1)
        self._record(now, SYSTEM_ACTOR, Action.CLOSE.value, from_status,
                     f"Closed automatically {days:g} days after resolution.",
                     {"client_accepted": None, "automatic": True})
        data = {**self._action_data(SYSTEM_ACTOR), "client_accepted": None, "automatic": True}
        events.append(self._event(COMPLAINT_CLOSED, now, data))
        self._touch(now)
        return events

    # -- notes and triage ----------------------------------------------------------------

    def add_note(self, text: str, by: str, now: datetime,
                 rules: ComplaintRules = DEFAULT_RULES) -> TimelineEntry:
        """An internal note (no event). Refused with ``Conflict`` once the complaint is closed."""
        now = ensure_utc(now)
        by = validate_actor(by)
        if self.status == Status.CLOSED:
            raise Conflict("Notes cannot be added to a closed complaint.")
        entry = self._record(now, by, NOTE, Status(self.status),
                             validate_note(text, rules.text_limits), {})
        self._touch(now)
        return entry

    def correct(self, changes: Mapping[str, Any], by: str, now: datetime,
                rules: ComplaintRules = DEFAULT_RULES) -> list[DomainEvent]:
        """Triage corrections of title, description, category and severity, until resolved.

        A severity change recomputes both deadlines from ``opened_at`` (keeping the pause
        extension) and publishes ``complaint.reclassified``. Values equal to the current ones
        are ignored; a correction that changes nothing records nothing.
        """
        now = ensure_utc(now)
        by = validate_actor(by)
        if self.status not in CORRECTABLE_STATUSES:
            raise Conflict(f"A {self.status} complaint can no longer be corrected.")
        cleaned = validate_correction(changes or {}, rules.text_limits)
        changed = {name: {"from": getattr(self, name), "to": value}
                   for name, value in cleaned.items() if getattr(self, name) != value}
        if not changed:
            return []

        events = self._take_due_breaches(now)
        previous_severity = self.severity
        for name, change in changed.items():
            setattr(self, name, change["to"])
        if "severity" in changed:
            deadlines = sla.deadlines_for(self.severity, self.client_tier, self.opened_at,
                                          rules.sla, self.pause_extension_s)
            self.respond_by, self.resolve_by = deadlines.respond_by, deadlines.resolve_by
            events.append(self._event(COMPLAINT_RECLASSIFIED, now, {
                "complaint_id": self.id, "ref": self.ref, "client_id": self.client_id,
                "previous_severity": previous_severity, "severity": self.severity,
                "respond_by": self.respond_by, "resolve_by": self.resolve_by, "by": by,
            }))
        status = Status(self.status)
        self._record(now, by, CORRECT, status, _describe_correction(changed), changed)
        events += self._take_due_breaches(now)
        self._touch(now)
        return events

    # -- breaches ------------------------------------------------------------------------

    def due_breaches(self, now: datetime) -> list[str]:
        """Breach kinds that happened and are not yet published, in ``BREACH_KINDS`` order."""
        now = ensure_utc(now)
        kinds = []
        if (not self.response_breach_published
                and sla.response_breached(self.respond_by, self.acknowledged_at, now)):
            kinds.append(sla.RESPONSE)
        if (not self.resolution_breach_published
                and sla.resolution_breached(self.status, self.resolve_by, self.resolved_at,
                                            self.waiting_since, now)):
            kinds.append(sla.RESOLUTION)
        return kinds

    def record_breaches(self, now: datetime) -> list[DomainEvent]:
        """Mark the due breaches published and return their ``complaint.sla_breached`` events
        (for the periodic job; workflow methods do this themselves)."""
        now = ensure_utc(now)
        events = self._take_due_breaches(now)
        if events:
            self._touch(now)
        return events

    def _take_due_breaches(self, now: datetime) -> list[DomainEvent]:
        events = []
        for kind in self.due_breaches(now):
            if kind == sla.RESPONSE:
                self.response_breach_published = True
                deadline = self.respond_by
            else:
                self.resolution_breach_published = True
                deadline = self.resolve_by
            events.append(self._event(COMPLAINT_SLA_BREACHED, now, {
                "complaint_id": self.id, "ref": self.ref, "client_id": self.client_id,
                "severity": self.severity, "kind": kind, "deadline": deadline,
            }))
        return events

    # -- bookkeeping ---------------------------------------------------------------------

    def _action_data(self, by: str) -> dict[str, Any]:
        return {"complaint_id": self.id, "ref": self.ref, "client_id": self.client_id,
                "severity": self.severity, "by": by, "resolve_by": self.resolve_by}

    def _event(self, event_type: str, now: datetime, data: Mapping[str, Any]) -> DomainEvent:
        return DomainEvent(type=event_type, subject=self.client_id, occurred_at=now,
                           data=dict(data))

    def _record(self, now: datetime, by: str, action: str, from_status: Status | None,
                note: str | None, details: Mapping[str, Any]) -> TimelineEntry:
        entry = TimelineEntry(at=now, by=by, action=action,
                              from_status=from_status.value if from_status else None,
                              to_status=Status(self.status).value, note=note,
                              details=dict(details))
        self.timeline.append(entry)
        return entry

    def _touch(self, now: datetime) -> None:
        self.version += 1
        self.updated_at = now


def _join_notes(*notes: str | None) -> str | None:
    """The timeline note of an action: what the action says (reason, summary…), then the
    staff's optional note."""
    return "\n\n".join(note for note in notes if note) or None


def _describe_correction(changed: Mapping[str, Mapping[str, Any]]) -> str:
    parts = []
    for name, change in changed.items():
        if name in ("category", "severity"):
            parts.append(f"{name}: {change['from']} → {change['to']}")
        else:
            parts.append(f"{name} corrected")
    text = "; ".join(parts)
    return text[:1].upper() + text[1:] + "."


def open_complaint(*, complaint_id: UUID, ref: str, client_id: UUID, client_tier: str | None,
                   channel: str, category: str, severity: str, title: str,
                   description: str | None = None, remedy_sought: str | None = None,
                   assignee: str | None = None, by: str, now: datetime,
                   rules: ComplaintRules = DEFAULT_RULES) -> tuple[Complaint, list[DomainEvent]]:
    """A new complaint (status ``new``, deadlines set) and its ``complaint.opened`` event.

    ``ref`` comes from ``refs.format_ref`` on the service's sequence; ``client_tier`` from the
    service's local copy of the registry (``None`` when unknown: no tier factor).
    """
    now = ensure_utc(now)
    by = validate_actor(by)
    parse_ref(ref)
    cleaned = validate_opening(channel=channel, category=category, severity=severity,
                               title=title, description=description,
                               remedy_sought=remedy_sought, assignee=assignee,
                               limits=rules.text_limits)
    deadlines = sla.deadlines_for(cleaned["severity"], client_tier, now, rules.sla)
    complaint = Complaint(id=complaint_id, ref=ref, client_id=client_id,
                          client_tier=client_tier, opened_at=now,
                          respond_by=deadlines.respond_by, resolve_by=deadlines.resolve_by,
                          updated_at=now, **cleaned)
    complaint._record(now, by, OPEN, None, None, {})
    event = complaint._event(COMPLAINT_OPENED, now, {
        "complaint_id": complaint.id, "ref": complaint.ref, "client_id": complaint.client_id,
        "severity": complaint.severity, "category": complaint.category,
        "channel": complaint.channel, "opened_at": now, "respond_by": complaint.respond_by,
        "resolve_by": complaint.resolve_by, "by": by,
    })
    return complaint, [event]
