"""``/api/v1/reports/complaints``: the complaint analysis for a range of dates."""
from __future__ import annotations

from datetime import timedelta

from flask import current_app
from flask.views import MethodView

from services.complaints.adapters.reports import complaints_report, day_bounds
from services.complaints.api.schemas import ComplaintsReportSchema, ReportArgs
from shared.web.blueprint import Blueprint

blp = Blueprint("complaint_reports", __name__, url_prefix="/api/v1/reports",
                description="The complaint analysis (投诉分析).")

DEFAULT_DAYS = 30


@blp.route("/complaints")
class ComplaintsReport(MethodView):
    @blp.arguments(ReportArgs, location="query")
    @blp.response(200, ComplaintsReportSchema)
    def get(self, args):
        """Counts by category, severity, root cause and channel; mean and median times to
        acknowledge and resolve; SLA breach and reopen rates; backlog by age.

        ``from`` and ``to`` are calendar dates in ``CLIENTLOOP_TIMEZONE``, both inclusive
        (default: the 30 days up to today). See docs/complaints.md for each figure.
        """
        ctx = current_app.extensions["clientloop"]
        zone = ctx.extras["timezone"]
        now = ctx.clock()
        last_day = args.get("to") or now.astimezone(zone).date()
        first_day = args.get("from_") or last_day - timedelta(days=DEFAULT_DAYS - 1)
        if first_day > last_day:  # only `from` given, after today
            last_day = first_day
        start, end = day_bounds(first_day, last_day, zone)
        with ctx.database.transaction() as session:
            report = complaints_report(session, first_day=first_day, last_day=last_day,
                                       start=start, end=end, now=now)
        report["from_"] = report.pop("from")
        report["timezone"] = ctx.settings.timezone
        return report
