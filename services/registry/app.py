"""The registry's composition root: ``create_app(settings)``; nothing is built at import."""
from __future__ import annotations

from flask import Flask

from services.registry.adapters.orm import platform
from services.registry.domain.clients import ClientRules
from services.registry.domain.value import ValueRules
from services.registry.service import RegistryRules
from shared.bus.outbox import install_commit_hook
from shared.config import Settings
from shared.db import Database
from shared.web.app import ServiceContext, create_service_app

SERVICE = "registry"


def build_context(settings: Settings, database: Database | None = None, clock=None) -> ServiceContext:
    from shared.clock import utcnow
    database = database or Database(settings.database_url(SERVICE))
    install_commit_hook(database.sessions)
    ctx = ServiceContext(SERVICE, settings, database, platform, clock or utcnow)
    ctx.extras["rules"] = RegistryRules(clients=ClientRules(currency=settings.currency),
                                        value=ValueRules(),
                                        default_language=settings.default_language)
    return ctx


def create_app(settings: Settings | None = None, *, context: ServiceContext | None = None) -> Flask:
    from services.registry.api.clients import blp as clients_blp
    ctx = context or build_context(settings or Settings.from_env())
    return create_service_app(ctx, title="ClientLoop registry",
                              description="Clients, their value and satisfaction records, and their care.",
                              blueprints=[clients_blp])
