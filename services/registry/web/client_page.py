"""What the console's client page shows, gathered in one transaction from the registry's own
records (no other service's data): the profile, the stakeholder position, the satisfaction
ledger (its latest entries, for the chart and the table of reasons), the value record, the open
complaints (with their ids and resolution deadlines) and the latest survey responses (with their
scores and comments) as the registry learnt them from events, and client care (the plan,
whether follow-up is due, the latest interactions).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, ClassVar

from sqlalchemy.orm import Session

from services.registry import care, queries, requirements, service
from services.registry.adapters.orm import ClientRecord
from services.registry.domain.open_complaints import OpenComplaint
from services.registry.rules import RegistryRules
from shared.errors import NotFound

LEDGER_SHOWN = 30
FEEDBACK_SHOWN = 5
COMMENT_SHOWN = 500  # characters of a comment on the page (the rest is in Surveys)
INTERACTIONS_SHOWN = 10


@dataclass
class FollowUp:
    """The plan's next due date and, when it has come, how many days overdue."""

    due_on: date
    due: bool
    overdue_days: int


@dataclass
class ClientPage:
    client: ClientRecord
    strategy: str | None
    gap: int | None
    ledger: list[dict[str, Any]]
    ledger_total: int
    open_complaints: list[OpenComplaint]
    feedback: list[queries.Feedback]
    plan: dict[str, Any] | None
    follow_up: FollowUp | None
    interactions: list[Any]
    interactions_total: int
    today: date
    grid: dict[str, Any] = field(default_factory=dict)
    now: datetime | None = None  # what the complaints' deadlines count down from
    requirements: list[dict[str, Any]] = field(default_factory=list)  # newest first
    comment_shown: ClassVar[int] = COMMENT_SHOWN

    @property
    def chart_points(self) -> list[tuple[Any, Decimal]]:
        """(when, S after the entry) for each ledger entry shown, oldest first."""
        return [(entry["occurred_at"], entry["value"]) for entry in self.ledger]


def client_page(session: Session, client_id: str, *, now, rules: RegistryRules) -> ClientPage:
    client = service.get_client(session, client_id)
    today = care.today(now, rules)
    plan, follow_up = _plan(session, client, today)
    interactions = care.interactions_page(session, client.id, 1, INTERACTIONS_SHOWN)
    return ClientPage(
        client=client, strategy=service.strategy_of(client), gap=service.gap_of(client),
        ledger=queries.ledger(session, client.id, latest=LEDGER_SHOWN),
        ledger_total=queries.ledger_size(session, client.id),
        open_complaints=queries.open_complaints(session, client.id),
        feedback=queries.feedback_received(session, client.id, latest=FEEDBACK_SHOWN),
        plan=plan, follow_up=follow_up, interactions=interactions["items"],
        interactions_total=interactions["total"], today=today,
        grid=grid(client.power, client.interest, rules), now=now,
        requirements=requirements.open_requirements_of(session, client.id, on=today))


def _plan(session: Session, client: ClientRecord, today: date):
    try:
        record = care.get_plan(session, client.id)
    except NotFound:
        return None, None
    plan = care.plan_view(session, record)
    due = client.status == "active" and plan["next_due_on"] <= today
    return plan, FollowUp(plan["next_due_on"], due, max(0, (today - plan["next_due_on"]).days))


def grid(power: int | None, interest: int | None, rules: RegistryRules) -> dict[str, Any]:
    """The power/interest grid's geometry: cells from ``grid_min`` to ``grid_max`` on both
    axes (power up, interest right), the "high" threshold, and the client's cell if known."""
    low, high = rules.clients.grid_min, rules.clients.grid_max
    return {"low": low, "high": high, "high_from": rules.clients.high_from,
            "size": high - low + 1, "power": power, "interest": interest,
            "known": power is not None and interest is not None}
