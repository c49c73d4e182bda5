"""``/api/v1/clients/{id}/satisfaction`` and ``/value``: the records and why they are so."""
from __future__ import annotations

from decimal import Decimal

from flask import current_app
from flask.views import MethodView

from services.registry import queries, service
from services.registry.api.schemas import SatisfactionSchema, ValueSchema
from services.registry.domain.money import money_output
from shared.clock import as_utc
from shared.web.blueprint import Blueprint

blp = Blueprint("records", __name__, url_prefix="/api/v1/clients",
                description="Satisfaction ledger and value record of each client, with their history.")


def ctx():
    return current_app.extensions["clientloop"]


def _money(amount, currency: str | None = None) -> dict[str, str]:
    return money_output(Decimal(amount or 0), currency or ctx().extras["rules"].clients.currency)


@blp.route("/<uuid:client_id>/satisfaction")
class Satisfaction(MethodView):
    @blp.response(200, SatisfactionSchema)
    def get(self, client_id):
        """The satisfaction index S (0–100, null while unknown) and its ledger in event-time
        order: every change with its reason."""
        with ctx().database.transaction() as session:
            client = service.get_client(session, str(client_id))
            ledger = queries.ledger(session, client.id)
        return {"client_id": client.id, "current": ledger[-1]["value"] if ledger else None,
                "ledger": ledger}


@blp.route("/<uuid:client_id>/value")
class Value(MethodView):
    @blp.response(200, ValueSchema)
    def get(self, client_id):
        """The value record (annual value, tier, open complaints, health, value at risk) as of
        its last recomputation, and its history: one entry per change of tier, health score or
        band, with the event that caused it (null: the 90-day window moved)."""
        with ctx().database.transaction() as session:
            client = service.get_client(session, str(client_id))
            rows = queries.value_history(session, client.id)
            history = [{"at": as_utc(row.at),
                        "cause": None if row.cause_event_id is None else {
                            "event_id": row.cause_event_id, "event_type": row.cause_event_type},
                        "tier": row.tier, "health_score": row.health_score,
                        "health_band": row.health_band,
                        "value_at_risk": _money(row.value_at_risk)} for row in rows]
            current = {
                "annual_value": (None if client.annual_amount is None
                                 else _money(client.annual_amount, client.annual_currency)),
                "tier": client.tier,
                "open_complaints": {"low": client.open_low, "medium": client.open_medium,
                                    "high": client.open_high, "critical": client.open_critical},
                "complaints_90d": client.complaints_90d,
                "satisfaction": client.satisfaction,
                "health_score": client.health_score,
                "health_band": client.health_band,
                "value_at_risk": _money(client.value_at_risk),
                "as_of": as_utc(client.records_at),
            }
        return {"client_id": client.id, "current": current, "history": history}
