"""``/api/v1/reports/portfolio``: the clients as one portfolio."""
from __future__ import annotations

from flask import current_app
from flask.views import MethodView

from services.registry import reports
from services.registry.api.schemas import PortfolioSchema
from shared.web.blueprint import Blueprint

blp = Blueprint("reports", __name__, url_prefix="/api/v1/reports",
                description="Portfolio report: clients, satisfaction, value and value at risk.")


@blp.route("/portfolio")
class Portfolio(MethodView):
    @blp.response(200, PortfolioSchema)
    def get(self):
        """Active clients: count, mean satisfaction, annual value and value at risk — overall
        and by kind, tier and health band."""
        ctx = current_app.extensions["clientloop"]
        with ctx.database.transaction() as session:
            return reports.portfolio(session, ctx.extras["rules"].clients.currency)
