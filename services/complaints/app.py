"""The complaints service's composition root; nothing is built at import.

* ``build_context`` / ``create_app``: the web app (``/api/v1/complaints``, the reports,
  ``/api/v1/improvements``);
* ``event_handlers``: the local client directory, fed by registry events;
* ``run_jobs``: SLA breach detection and the automatic close (and a pending demo load);
* ``load_demo``: a few complaints for the demo clients.
"""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import Flask

from services.complaints.adapters.orm import platform
from services.complaints.config import rules_from_env
from shared.bus.outbox import install_commit_hook
from shared.config import Settings
from shared.db import Database
from shared.web.app import ServiceContext, create_service_app

SERVICE = "complaints"


def build_context(settings: Settings, database: Database | None = None,
                  clock=None) -> ServiceContext:
    from shared.clock import utcnow
    try:
        zone = ZoneInfo(settings.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise SystemExit(f"CLIENTLOOP_TIMEZONE: unknown time zone {settings.timezone!r}"
                         ) from None
    database = database or Database(settings.database_url(SERVICE))
    install_commit_hook(database.sessions)
    ctx = ServiceContext(SERVICE, settings, database, platform, clock or utcnow)
    ctx.extras["rules"] = rules_from_env(settings.extra)
    ctx.extras["timezone"] = zone
    return ctx


def create_app(settings: Settings | None = None, *,
               context: ServiceContext | None = None) -> Flask:
    from services.complaints.api.complaints import blp as complaints_blp
    from services.complaints.api.forecasts import blp as forecasts_blp
    from services.complaints.api.improvements import blp as improvements_blp
    from services.complaints.api.improvements import reports_blp as root_causes_blp
    from services.complaints.api.reports import blp as reports_blp
    from services.complaints.web.console import console
    from shared.web.console import init_console
    ctx = context or build_context(settings or Settings.from_env())
    app = create_service_app(
        ctx, title="ClientLoop complaints",
        description="Complaints received by support staff, handled through the ISO 10002 "
                    "workflow with service-level deadlines, and analysed.",
        blueprints=[complaints_blp, reports_blp, improvements_blp, root_causes_blp,
                    forecasts_blp])
    init_console(app, console)  # the staff pages: /complaints/console/ (services/complaints/web)
    from services.complaints.api.fast_open import install
    install(app)  # ordinary openings answered without the framework (PostgreSQL)
    return app


def event_handlers(ctx: ServiceContext):
    from services.complaints.consumers import handlers
    return handlers(ctx.clock)


def run_jobs(ctx: ServiceContext, now: datetime) -> dict[str, int]:
    """One pass of the periodic jobs: due SLA breaches, automatic closes, a pending demo."""
    from services.complaints import demo, service
    counts = service.run_complaint_jobs(ctx.database, now, ctx.extras["rules"])
    demo.load_if_pending(ctx, now)
    return counts


def load_demo(ctx: ServiceContext) -> None:
    """A few complaints for the demo clients (see ``services.complaints.demo``)."""
    from services.complaints import demo
    demo.load(ctx, ctx.clock())
