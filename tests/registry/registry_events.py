"""Bus events for registry tests: CloudEvents envelopes as survey and complaints publish them,
with ``data`` that validates against ``docs/events``; factories take overrides."""
from __future__ import annotations

import itertools
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

from shared.bus.envelope import Event, build_envelope
from shared.clock import isoformat_z

SOURCES = {"survey.response.submitted": "survey"}


class BusEvents:
    """Envelopes for one or more clients. ``at`` is the event's time (default: ``now``)."""

    def __init__(self, now: datetime | None = None) -> None:
        self.now = now or datetime.now(timezone.utc)
        self._refs = itertools.count(1)
        self._sequence = itertools.count(1)

    def new_ref(self) -> str:
        return f"CMP-{next(self._refs):06d}"

    def envelope(self, event_type: str, client_id: str, data: dict[str, Any], *,
                 at: datetime | None = None, event_id: str | None = None) -> dict[str, Any]:
        at = at or self.now
        return build_envelope(service=SOURCES.get(event_type, "complaints"), event_type=event_type,
                              subject=client_id, data={"client_id": client_id, **data}, time=at,
                              sequence=next(self._sequence), event_id=event_id)

    def survey(self, client_id: str, score: float | None, *, at: datetime | None = None,
               comment: str | None = None, **overrides) -> dict[str, Any]:
        at = at or self.now
        data = {"response_id": str(uuid.uuid4()), "survey_id": str(uuid.uuid4()),
                "invitation_id": str(uuid.uuid4()), "submitted_at": isoformat_z(at),
                "score": score, "scoring_version": "1", "nps": None, "nps_category": None,
                "csat": None, "ces": None, "comment": comment}
        return self.envelope("survey.response.submitted", client_id, data, at=at, **overrides)

    def _complaint(self, ref: str | None, complaint_id: str | None, severity: str) -> dict[str, Any]:
        ref = ref or self.new_ref()
        return {"complaint_id": complaint_id or str(uuid.uuid5(uuid.NAMESPACE_URL, ref)),
                "ref": ref, "severity": severity}

    def opened(self, client_id: str, severity: str = "high", *, ref: str | None = None,
               at: datetime | None = None, complaint_id: str | None = None,
               resolve_by: datetime | None = None, **overrides) -> dict[str, Any]:
        at = at or self.now
        data = {**self._complaint(ref, complaint_id, severity), "category": "service",
                "channel": "phone", "opened_at": isoformat_z(at),
                "respond_by": isoformat_z(at + timedelta(hours=4)),
                "resolve_by": isoformat_z(resolve_by or at + timedelta(hours=72))}
        return self.envelope("complaint.opened", client_id, data, at=at, **overrides)

    def resolved(self, client_id: str, severity: str = "high", *, ref: str, within_sla: bool = True,
                 at: datetime | None = None, complaint_id: str | None = None, **overrides) -> dict[str, Any]:
        data = {**self._complaint(ref, complaint_id, severity), "resolution_code": "fixed",
                "root_cause": "configuration", "within_sla": within_sla,
                "time_to_resolve_s": 3600, "waiting_s": 0}
        return self.envelope("complaint.resolved", client_id, data, at=at, **overrides)

    def reopened(self, client_id: str, severity: str = "high", *, ref: str, at: datetime | None = None,
                 resolve_by: datetime | None = None, **overrides) -> dict[str, Any]:
        data = {**self._complaint(ref, None, severity), "reason": "The fix did not hold."}
        if resolve_by is not None:
            data["resolve_by"] = isoformat_z(resolve_by)
        return self.envelope("complaint.reopened", client_id, data, at=at, **overrides)

    def reclassified(self, client_id: str, previous: str, severity: str, *, ref: str,
                     at: datetime | None = None, resolve_by: datetime | None = None,
                     **overrides) -> dict[str, Any]:
        at = at or self.now
        data = {**self._complaint(ref, None, severity), "previous_severity": previous,
                "respond_by": isoformat_z(at + timedelta(hours=4)),
                "resolve_by": isoformat_z(resolve_by or at + timedelta(hours=72))}
        return self.envelope("complaint.reclassified", client_id, data, at=at, **overrides)

    def waiting(self, client_id: str, severity: str = "high", *, ref: str, resolve_by: datetime,
                at: datetime | None = None, **overrides) -> dict[str, Any]:
        data = {**self._complaint(ref, None, severity), "by": "Li Na",
                "resolve_by": isoformat_z(resolve_by), "reason": "Asked for the invoice."}
        return self.envelope("complaint.waiting", client_id, data, at=at, **overrides)

    def resumed(self, client_id: str, severity: str = "high", *, ref: str, resolve_by: datetime,
                at: datetime | None = None, **overrides) -> dict[str, Any]:
        data = {**self._complaint(ref, None, severity), "by": "Li Na",
                "resolve_by": isoformat_z(resolve_by)}
        return self.envelope("complaint.resumed", client_id, data, at=at, **overrides)


def as_event(envelope: dict[str, Any]) -> Event:
    return Event.from_envelope(envelope)


def short_type(envelope: dict[str, Any]) -> str:
    return envelope["type"][len("clientloop."):-len(".v1")]
