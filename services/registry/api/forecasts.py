"""``/api/v1/forecasts``: clients projected to get less healthy, and the monthly intake of
requirements and change requests."""
from __future__ import annotations

from zoneinfo import ZoneInfo

import marshmallow as ma
from flask import current_app
from flask.views import MethodView
from marshmallow import fields, validate

from services.registry import forecasts
from services.registry.domain.value import HEALTH_BANDS
from shared.forecasting import ForecastCache
from shared.web.blueprint import Blueprint
from shared.web.forecast_schemas import forecast_schema
from shared.web.pagination import PageArgs

blp = Blueprint("forecasts", __name__, url_prefix="/api/v1/forecasts",
                description="Forecasts: clients at risk, requirement intake.")


class AtRiskArgs(PageArgs):
    days = fields.Integer(load_default=90, validate=validate.Range(1, 365),
                          metadata={"description": "How far ahead to look, in days (1–365)."})


class RequirementsForecastArgs(ma.Schema):
    horizon_months = fields.Integer(load_default=6, validate=validate.Range(1, 12),
                                    metadata={"description": "Months to forecast (1–12)."})


class AtRiskItemSchema(ma.Schema):
    client_id = fields.String()
    name = fields.String()
    health_score = fields.Float()
    health_band = fields.String(metadata={"enum": list(HEALTH_BANDS)})
    projected_health_score = fields.Float(metadata={
        "description": "The health score on `projected_on`."})
    projected_band = fields.String(metadata={"enum": list(HEALTH_BANDS)})
    projected_on = fields.String(metadata={"description": "The first day (ISO date) the band "
                                                          "is projected to be worse."})
    reasons = fields.List(fields.String())


class AtRiskSchema(ma.Schema):
    days = fields.Integer()
    items = fields.List(fields.Nested(AtRiskItemSchema))
    page = fields.Integer()
    per_page = fields.Integer()
    total = fields.Integer()


RequirementsForecastSchema = forecast_schema("RequirementsForecast", unit="month")


def _ctx():
    return current_app.extensions["clientloop"]


@blp.route("/at-risk")
class AtRisk(MethodView):
    @blp.arguments(AtRiskArgs, location="query")
    @blp.response(200, AtRiskSchema)
    def get(self, args):
        """Active clients whose health band is projected to get worse within ``days``, the
        soonest first (paginated: ``page``, ``per_page``). Satisfaction is projected from the least-squares slope of the
        satisfaction ledger over the last 90 days (at least 3 entries spanning 7 days), damped
        by 0.98 a day; health is recomputed with it and the current complaints. See
        docs/forecasts.md."""
        ctx = _ctx()
        rules = ctx.extras["rules"]
        with ctx.database.transaction() as session:
            answer = forecasts.at_risk(session, days=args["days"], now=ctx.clock(),
                                       zone=ZoneInfo(rules.timezone), rules=rules.value,
                                       cache=ctx.extras.setdefault("forecast_cache",
                                                                   ForecastCache()))
        page, per_page = args["page"], args["per_page"]
        items = answer["items"]
        return {"days": answer["days"], "page": page, "per_page": per_page,
                "total": len(items), "items": items[(page - 1) * per_page:page * per_page]}


@blp.route("/requirements")
class RequirementsForecast(MethodView):
    @blp.arguments(RequirementsForecastArgs, location="query")
    @blp.response(200, RequirementsForecastSchema)
    def get(self, args):
        """New requirements and new change requests per calendar month (in
        ``CLIENTLOOP_TIMEZONE``) over the last 24 complete months, and for each of the next
        ``horizon_months`` (the current month first) a mean with 80 % and 95 % intervals.
        ``method``: ``ets_damped_seasonal`` (from 24 months of history), ``ets_damped`` (from
        12 months) or ``insufficient_history``; ``backtest`` over the last 6 months."""
        ctx = _ctx()
        rules = ctx.extras["rules"]
        with ctx.database.transaction() as session:
            return forecasts.requirements_forecast(
                session, horizon=args["horizon_months"], now=ctx.clock(),
                zone=ZoneInfo(rules.timezone),
                cache=ctx.extras.setdefault("forecast_cache", ForecastCache()))
