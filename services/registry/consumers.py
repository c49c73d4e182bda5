"""Which bus events the registry handles: feedback and complaint events move each client's
satisfaction and value records (``records.apply_event``).

The shared runner (``shared.bus.consumer``) calls a handler once per event id (inbox), inside
one transaction with it; the client's own event table makes a duplicate harmless even after the
inbox forgot it. An event for a client the registry does not hold raises, so the runner retries
it with backoff and then dead-letters it (``clientloop dlq list registry``).
"""
from __future__ import annotations

from services.registry import records
from services.registry.domain.events import SATISFACTION_EVENT_TYPES
from shared.bus.envelope import Event


def event_handlers(ctx) -> dict:
    rules = ctx.extras["rules"]

    def apply(session, event: Event) -> None:
        records.apply_event(session, event, now=ctx.clock(), rules=rules)

    return {event_type: apply for event_type in sorted(SATISFACTION_EVENT_TYPES)}
