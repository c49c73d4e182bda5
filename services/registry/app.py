"""The registry's composition root: ``create_app(settings)``; nothing is built at import."""
from __future__ import annotations

from datetime import datetime

from flask import Flask

from services.registry.adapters.orm import platform
from services.registry.rules import RegistryRules, rules_from_settings
from shared.bus.outbox import install_commit_hook
from shared.config import Settings
from shared.db import Database
from shared.web.app import ServiceContext, create_service_app

SERVICE = "registry"


def build_context(settings: Settings, database: Database | None = None, clock=None, *,
                  rules: RegistryRules | None = None) -> ServiceContext:
    """The registry's context; ``rules`` replaces the default scoring rules (docs/scoring.md)."""
    from shared.clock import utcnow
    rules = rules or rules_from_settings(settings)
    database = database or Database(settings.database_url(SERVICE))
    install_commit_hook(database.sessions)
    ctx = ServiceContext(SERVICE, settings, database, platform, clock or utcnow)
    ctx.extras["rules"] = rules
    return ctx


def create_app(settings: Settings | None = None, *, context: ServiceContext | None = None) -> Flask:
    from services.registry.api.care import blp as care_blp
    from services.registry.api.clients import blp as clients_blp
    from services.registry.api.forecasts import blp as forecasts_blp
    from services.registry.api.records import blp as records_blp
    from services.registry.api.reports import blp as reports_blp
    from services.registry.api.requirements import blp as requirements_blp
    from services.registry.web.console import console
    from shared.web.console import init_console
    ctx = context or build_context(settings or Settings.from_env())
    app = create_service_app(ctx, title="ClientLoop registry",
                             description="Clients, their value and satisfaction records, and their care.",
                             blueprints=[clients_blp, records_blp, care_blp, reports_blp,
                                         requirements_blp, forecasts_blp])
    init_console(app, console)  # the staff pages: /registry/console/ (services/registry/web)
    return app


def event_handlers(ctx: ServiceContext) -> dict:
    """Feedback and complaint events → satisfaction and value records."""
    from services.registry.consumers import event_handlers as handlers
    return handlers(ctx)


def run_jobs(ctx: ServiceContext, now: datetime) -> dict[str, int]:
    """Moved 90-day windows and follow-ups due (see ``services.registry.jobs``)."""
    from services.registry.jobs import run_jobs as jobs
    return jobs(ctx, now)


def load_demo(ctx: ServiceContext) -> int:
    """A small realistic data set, loaded only while the registry has no clients."""
    from services.registry.demo import load_demo as demo
    return demo(ctx)
