"""Factories for the registry's domain tests: events on a fixed calendar, with overrides."""
from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from services.registry.domain.events import SatisfactionEvent

START = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)


class EventFactory:
    """Builds bus-shaped feedback and complaint events through ``SatisfactionEvent.from_bus``.

    ``day`` places an event that many days after a fixed start; ``at`` overrides it.
    """

    start = START

    def __init__(self) -> None:
        self._ids = itertools.count(1)

    def at(self, day: float = 0, **delta: float) -> datetime:
        return self.start + timedelta(days=day, **delta)

    def bus(self, event_type: str, data: dict[str, Any], *, day: float = 0,
            at: datetime | None = None, event_id: str | None = None) -> SatisfactionEvent:
        return SatisfactionEvent.from_bus(
            event_id or f"evt-{next(self._ids):04d}", event_type,
            at or self.at(day), data)

    def feedback(self, score: Any, **when: Any) -> SatisfactionEvent:
        return self.bus("survey.response.submitted",
                        {"response_id": "r-1", "client_id": "c-1", "score": score}, **when)

    def opened(self, severity: str = "high", ref: str = "CMP-000042", *,
               complaint_id: str | None = None, resolve_by: datetime | None = None,
               **when: Any) -> SatisfactionEvent:
        return self.bus("complaint.opened", self._complaint(
            ref, severity=severity, **_identity(complaint_id, resolve_by)), **when)

    def resolved(self, severity: str = "high", ref: str = "CMP-000042",
                 within_sla: bool = True, **when: Any) -> SatisfactionEvent:
        return self.bus("complaint.resolved",
                        self._complaint(ref, severity=severity, within_sla=within_sla), **when)

    def reopened(self, severity: str = "high", ref: str = "CMP-000042", *,
                 resolve_by: datetime | None = None, **when: Any) -> SatisfactionEvent:
        return self.bus("complaint.reopened",
                        self._complaint(ref, severity=severity, reason="Not fixed",
                                        **_identity(None, resolve_by)), **when)

    def reclassified(self, previous: str, severity: str, ref: str = "CMP-000042", *,
                     resolve_by: datetime | None = None, **when: Any) -> SatisfactionEvent:
        return self.bus("complaint.reclassified",
                        self._complaint(ref, severity=severity, previous_severity=previous,
                                        **_identity(None, resolve_by)), **when)

    def waiting(self, ref: str = "CMP-000042", severity: str = "high", *,
                resolve_by: datetime, **when: Any) -> SatisfactionEvent:
        return self.bus("complaint.waiting", self._complaint(
            ref, severity=severity, reason="Asked for the invoice.",
            **_identity(None, resolve_by)), **when)

    def resumed(self, ref: str = "CMP-000042", severity: str = "high", *,
                resolve_by: datetime, **when: Any) -> SatisfactionEvent:
        return self.bus("complaint.resumed", self._complaint(
            ref, severity=severity, **_identity(None, resolve_by)), **when)

    @staticmethod
    def _complaint(ref: str, **fields: Any) -> dict[str, Any]:
        return {"complaint_id": f"id-{ref}", "ref": ref, "client_id": "c-1", **fields}


def _identity(complaint_id: str | None, resolve_by: datetime | None) -> dict[str, Any]:
    """The complaint id (when a test gives a UUID; the default ``id-<ref>`` is not one) and
    the resolution deadline, as the bus carries them."""
    fields: dict[str, Any] = {}
    if complaint_id is not None:
        fields["complaint_id"] = complaint_id
    if resolve_by is not None:
        fields["resolve_by"] = resolve_by.isoformat().replace("+00:00", "Z")
    return fields


@pytest.fixture
def events() -> EventFactory:
    return EventFactory()
