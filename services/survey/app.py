"""The survey service's composition root: ``create_app(settings)``; nothing is built at import."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from flask import Flask

from services.survey.adapters.orm import platform
from services.survey.service import DEFAULT_RULES, Delivery, SurveyRules
from shared.bus.outbox import install_commit_hook
from shared.clock import as_utc
from shared.config import Settings
from shared.db import Database
from shared.web.app import ServiceContext, create_service_app

if TYPE_CHECKING:
    from flask_limiter import Limiter

SERVICE = "survey"
PUBLIC_SCOPE = "survey-public"
#: The rate limiter's key prefix in its store (the direct submit path counts under it too).
RATE_LIMIT_PREFIX = "clientloop-survey"


def build_context(settings: Settings, database: Database | None = None, clock=None, *,
                  rules: SurveyRules | None = None) -> ServiceContext:
    from services.survey.delivery.worker import DeliveryWorker, install_delivery_hook
    from shared.clock import utcnow
    database = database or Database(settings.database_url(SERVICE))
    install_commit_hook(database.sessions)
    ctx = ServiceContext(SERVICE, settings, database, platform, clock or utcnow)
    ctx.extras["rules"] = rules or DEFAULT_RULES
    ctx.extras["delivery"] = Delivery(email_enabled=bool(settings.smtp_url))
    from services.survey.themes import config_from_env
    ctx.extras["themes"] = config_from_env(settings.extra)
    worker = DeliveryWorker(ctx)
    install_delivery_hook(database.sessions, worker)
    ctx.extras["delivery_worker"] = worker
    return ctx


def create_app(settings: Settings | None = None, *, context: ServiceContext | None = None) -> Flask:
    from services.survey.api.invitations import blp as invitations_blp
    from services.survey.api.public import blp as public_blp
    from services.survey.api.surveys import blp as surveys_blp
    from services.survey.api.themes import blp as themes_blp
    from services.survey.web import form
    from services.survey.web.pages import register_page_errors
    ctx = context or build_context(settings or Settings.from_env())
    app = create_service_app(ctx, title="ClientLoop survey",
                             description="Satisfaction surveys sent to clients as personal links, "
                                         "filled in a browser, scored and analysed.",
                             blueprints=[surveys_blp, invitations_blp, themes_blp, public_blp])
    app.jinja_env.trim_blocks = True
    app.jinja_env.lstrip_blocks = True
    app.register_blueprint(form.bp)
    app.register_blueprint(form.assets)
    limiter = _rate_limits(app, ctx, [form.bp, public_blp])
    register_page_errors(app, limiter)
    from services.survey.web.console import init_survey_console
    init_survey_console(app)  # the staff pages: /survey/console/ (services/survey/web)
    _answer_plain_submits_directly(app)
    return app


def _answer_plain_submits_directly(app: Flask) -> None:
    """The ordinary public submit answered without the framework (``api.fast_submit``), inside
    the proxy headers' fix when there is one, so it sees the client's own address."""
    from services.survey.api.fast_submit import FastSubmit
    from shared.web.fast import in_front_of_app
    in_front_of_app(app, FastSubmit)


def _rate_limits(app: Flask, ctx: ServiceContext, blueprints) -> "Limiter":
    """``CLIENTLOOP_RATELIMIT_PUBLIC`` per client address over all public survey endpoints
    together, counted in ``CLIENTLOOP_RATELIMIT_STORAGE_URL`` (shared by every worker) or in
    the process. Checked before anything else about the request is looked at. When the shared
    store is unreachable, each process counts on its own until it is back (never a 500)."""
    from flask_limiter import Limiter
    from flask_limiter.util import get_remote_address

    from shared.web.ratelimit import MEMORY_URI
    settings = ctx.settings
    limiter = Limiter(get_remote_address, app=app, default_limits=[],
                      storage_uri=settings.ratelimit_storage_url or MEMORY_URI,
                      strategy="fixed-window", key_prefix=RATE_LIMIT_PREFIX,
                      headers_enabled=False, in_memory_fallback_enabled=True,
                      swallow_errors=True)
    for blueprint in blueprints:
        limiter.shared_limit(settings.ratelimit_public, scope=PUBLIC_SCOPE)(blueprint)
    hooks = app.before_request_funcs.setdefault(None, [])
    checks = [hook for hook in hooks if getattr(hook, "__self__", None) is limiter]
    for hook in checks:
        hooks.remove(hook)
    hooks[1:1] = checks  # right after the request id, before authentication and body checks
    app.extensions["survey_limiter"] = limiter
    return limiter


def event_handlers(ctx: ServiceContext) -> dict:
    """Registry events keep the client directory; ``complaint.resolved`` invites the client to
    the follow-up survey."""
    from services.survey.consumers import handlers
    return handlers(clock=ctx.clock, link_base=lambda: background_link_base(ctx.settings),
                    delivery=ctx.extras["delivery"], rules=ctx.extras["rules"])


def background_link_base(settings: Settings) -> str:
    """Where links made outside a request point: ``{CLIENTLOOP_PUBLIC_URL}/survey``, or the
    embedded suite's own address when no public URL is configured."""
    if settings.public_url:
        return f"{settings.public_url.rstrip('/')}/survey"
    return f"http://{settings.host}:{settings.port}/survey"


def run_jobs(ctx: ServiceContext, now: datetime) -> dict[str, int]:
    """Invitation emails still due (after a failure or a crash while sending); the demo's
    answers once the demo clients are known (``demo.answer_if_pending``); the tallies' slots
    of the days before yesterday (UTC) folded into one row per survey and day."""
    from services.survey.delivery.worker import deliver_due
    from services.survey.demo import answer_if_pending
    from services.survey.results import fold_tally_slots
    done = {"emails_sent": deliver_due(ctx, now)}
    folded = fold_tally_slots(ctx.database, as_utc(now).date() - timedelta(days=1))
    if folded:
        done["tally_slots_folded"] = folded
    answered = answer_if_pending(ctx, now, background_link_base(ctx.settings))
    if answered:
        done["demo_answers"] = answered
    return done


def load_demo(ctx: ServiceContext) -> int:
    """A bilingual demo survey with every question type, and a complaint follow-up survey."""
    from services.survey.demo import load_demo as demo
    return demo(ctx)
