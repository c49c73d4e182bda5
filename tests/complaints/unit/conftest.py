"""Builders for complaint unit tests: complaints opened and driven through real actions."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest

from services.complaints.domain.complaint import Complaint, open_complaint
from services.complaints.domain.events import DomainEvent
from services.complaints.domain.rules import DEFAULT_RULES, ComplaintRules
from services.complaints.domain.workflow import Action, Status

OPENED_AT = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
CLIENT_ID = UUID("7b0e4a8e-5f55-4c1e-9a43-1d1c9f1f0a01")
COMPLAINT_ID = UUID("c0a1b2c3-d4e5-4f60-8a71-92b3c4d5e6f7")

VALID_FIELDS: dict[Action, dict[str, Any]] = {
    Action.ACKNOWLEDGE: {},
    Action.ASSIGN: {"assignee": "Li Wei"},
    Action.START: {},
    Action.ESCALATE: {"reason": "Refund above the agent's limit"},
    Action.WAIT: {"reason": "Asked the client for the order number"},
    Action.RESUME: {},
    Action.RESOLVE: {"resolution_code": "refund", "root_cause": "Duplicate billing run",
                     "summary": "Refunded the duplicate charge"},
    Action.CLOSE: {"client_accepted": True},
    Action.REOPEN: {"reason": "The refund never arrived"},
}

PATH_TO: dict[Status, tuple[Action, ...]] = {
    Status.NEW: (),
    Status.ACKNOWLEDGED: (Action.ACKNOWLEDGE,),
    Status.IN_PROGRESS: (Action.ACKNOWLEDGE, Action.START),
    Status.ESCALATED: (Action.ACKNOWLEDGE, Action.ESCALATE),
    Status.AWAITING_CLIENT: (Action.ACKNOWLEDGE, Action.START, Action.WAIT),
    Status.RESOLVED: (Action.ACKNOWLEDGE, Action.START, Action.RESOLVE),
    Status.CLOSED: (Action.ACKNOWLEDGE, Action.START, Action.RESOLVE, Action.CLOSE),
}
"""The shortest way to each status through the workflow."""


class ComplaintFactory:
    opened_at = OPENED_AT
    client_id = CLIENT_ID
    complaint_id = COMPLAINT_ID
    valid_fields = VALID_FIELDS

    def open(self, *, now: datetime = OPENED_AT, rules: ComplaintRules = DEFAULT_RULES,
             **overrides: Any) -> tuple[Complaint, list[DomainEvent]]:
        values: dict[str, Any] = {
            "complaint_id": COMPLAINT_ID, "ref": "CMP-000042", "client_id": CLIENT_ID,
            "client_tier": "B", "channel": "email", "category": "billing",
            "severity": "medium", "title": "Charged twice for March",
            "description": "The March invoice was charged twice.",
            "remedy_sought": "Refund the second charge", "by": "ann",
        }
        values.update(overrides)
        return open_complaint(now=now, rules=rules, **values)

    def new(self, **overrides: Any) -> Complaint:
        return self.open(**overrides)[0]

    def in_status(self, status: Status, *, step: timedelta = timedelta(minutes=10),
                  rules: ComplaintRules = DEFAULT_RULES, **overrides: Any) -> Complaint:
        """A complaint brought to ``status`` by real actions, ``step`` apart after opening."""
        complaint = self.new(rules=rules, **overrides)
        for number, action in enumerate(PATH_TO[status], start=1):
            self.act(complaint, action, at=complaint.opened_at + number * step, rules=rules)
        return complaint

    def act(self, complaint: Complaint, action: Action, *, at: datetime, by: str = "bo",
            rules: ComplaintRules = DEFAULT_RULES, **fields: Any) -> list[DomainEvent]:
        """``action`` with valid sample fields, overridden by ``fields``."""
        return complaint.act(action, {**VALID_FIELDS[action], **fields}, by, at, rules)

    def last_action_time(self, complaint: Complaint) -> datetime:
        return complaint.timeline[-1].at


@pytest.fixture
def factory() -> ComplaintFactory:
    return ComplaintFactory()
