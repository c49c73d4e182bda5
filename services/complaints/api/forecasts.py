"""``/api/v1/forecasts/complaints``: the weekly complaint volume with its forecast."""
from __future__ import annotations

import marshmallow as ma
from flask import current_app
from flask.views import MethodView
from marshmallow import fields, validate

from services.complaints.forecasts import BY, complaints_forecast
from shared.forecasting import ForecastCache
from shared.web.blueprint import Blueprint
from shared.web.forecast_schemas import forecast_schema

blp = Blueprint("complaint_forecasts", __name__, url_prefix="/api/v1/forecasts",
                description="Forecasts of the complaint volume, with their accuracy.")


class ComplaintsForecastArgs(ma.Schema):
    by = fields.String(load_default="none", validate=validate.OneOf(BY), metadata={
        "description": "One series in all (`none`), or one per category or severity."})
    horizon_weeks = fields.Integer(load_default=8, validate=validate.Range(1, 26),
                                   metadata={"description": "Weeks to forecast (1–26)."})


ComplaintsForecastSchema = forecast_schema("ComplaintsForecast", unit="week", by=BY)


@blp.route("/complaints")
class ComplaintsForecast(MethodView):
    @blp.arguments(ComplaintsForecastArgs, location="query")
    @blp.response(200, ComplaintsForecastSchema)
    def get(self, args):
        """Complaints opened per week (weeks start on Monday in ``CLIENTLOOP_TIMEZONE``) for
        the last 52 complete weeks, and for each of the next ``horizon_weeks`` (the current
        week first) a mean with 80 % and 95 % intervals, never below 0. ``method``:
        ``ets_damped_seasonal`` (from 104 weeks of history), ``ets_damped`` (from 26 weeks) or
        ``insufficient_history`` (the historical mean with Poisson intervals, no backtest).
        ``backtest``: one-step-ahead forecasts over the last 12 weeks, their mean absolute error
        and MASE (÷ the naive forecast's; null when that is 0). See docs/forecasts.md."""
        ctx = current_app.extensions["clientloop"]
        with ctx.database.transaction() as session:
            return complaints_forecast(session, by=args["by"], horizon=args["horizon_weeks"],
                                       now=ctx.clock(), zone=ctx.extras["timezone"],
                                       cache=ctx.extras.setdefault("forecast_cache",
                                                                   ForecastCache()))
