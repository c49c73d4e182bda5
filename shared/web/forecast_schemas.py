"""Answer shapes of the forecast endpoints (complaints per week, requirements per month)."""
from __future__ import annotations

import marshmallow as ma
from marshmallow import fields

from shared.forecasting import ETS_DAMPED, ETS_DAMPED_SEASONAL, INSUFFICIENT_HISTORY

METHODS = (ETS_DAMPED_SEASONAL, ETS_DAMPED, INSUFFICIENT_HISTORY)


class BacktestSchema(ma.Schema):
    mae = fields.Float(metadata={"description": "Mean absolute error of the one-step-ahead "
                                                "forecasts."})
    mase = fields.Float(allow_none=True, metadata={
        "description": "MAE ÷ the naive forecast's MAE (previous period's count) over the same "
                       "periods; below 1 beats the naive forecast; null when that is 0."})
    points = fields.Integer()


def forecast_schema(name: str, *, unit: str, by: tuple[str, ...] | None = None):
    """The answer schema: ``{"by"?, "method", "series": [{"key", "history", "forecast",
    "backtest"}]}`` with ``unit`` (week | month) naming the period field."""
    history = ma.Schema.from_dict({unit: fields.String(metadata={
        "description": f"First day of the {unit} (ISO date)."}),
        "count": fields.Integer()}, name=f"{name}History")
    band = ma.Schema.from_dict({unit: fields.String(), "mean": fields.Float(),
                                "lo80": fields.Float(), "hi80": fields.Float(),
                                "lo95": fields.Float(), "hi95": fields.Float()},
                               name=f"{name}Band")
    series = ma.Schema.from_dict({
        "key": fields.String(allow_none=True, metadata={"description": "The series' key; "
                                                          "null for the total."}),
        "history": fields.List(fields.Nested(history)),
        "forecast": fields.List(fields.Nested(band)),
        "backtest": fields.Nested(BacktestSchema, allow_none=True)}, name=f"{name}Series")
    shape = {"method": fields.String(metadata={"enum": list(METHODS)}),
             "series": fields.List(fields.Nested(series))}
    if by is not None:
        shape["by"] = fields.String(metadata={"enum": list(by)})
    return ma.Schema.from_dict(shape, name=name)
