"""Which bus events the registry handles: feedback and complaint events move each client's
satisfaction and value records (``records.apply_event``); ``complaint.waiting`` and
``complaint.resumed`` only keep the complaint's deadline up to date for the client's page.

The shared runner (``shared.bus.consumer``) calls a handler once per event id (inbox), inside
one transaction with it; the client's own event table makes a duplicate harmless even after the
inbox forgot it. The handler applies several events at once too (``apply_many``: the runner's
batches, one transaction for the messages already delivered): each client's row is locked once,
in client id order, and the records of all of them are folded and saved together
(``records.apply_events``). An event for a client the registry does not hold raises, so the
runner retries it with backoff and then dead-letters it (``clientloop dlq list registry``).
"""
from __future__ import annotations

from services.registry import records
from services.registry.domain.events import APPLIED_EVENT_TYPES
from shared.bus.envelope import Event


def event_handlers(ctx) -> dict:
    rules = ctx.extras["rules"]

    def apply(session, event: Event) -> None:
        records.apply_event(session, event, now=ctx.clock(), rules=rules)

    def apply_many(session, events: list[Event]) -> None:
        records.apply_events(session, events, now=ctx.clock(), rules=rules)

    apply.apply_many = apply_many
    return {event_type: apply for event_type in sorted(APPLIED_EVENT_TYPES)}
