"""The staff console's shared part: what every service's ``/<service>/console/`` pages use.

Each service builds its pages on a blueprint from :func:`make_console_blueprint` and registers
it with :func:`init_console`; the layout, navigation bar, stylesheet, sign-in and sign-out,
language switch, CSRF, flash messages, error pages, formatting filters and charts come from
here, so the three services read as one site.

    from shared.web.console import _, handle_write, make_console_blueprint, staff_page

    bp = make_console_blueprint("registry", __name__, template_folder="templates",
                                messages=MESSAGES)      # the service's own catalogue

    @bp.get("/")
    @staff_page()
    def clients():
        return render_template("console/registry/clients.html", ...)

    @bp.post("/<client_id>/archive")
    @staff_page("staff")
    def archive(client_id):
        return handle_write(lambda session: service.archive_client(session, client_id, ...),
                            back=url_for(".client", client_id=client_id),
                            done=_("Client archived."),
                            refused={StaleVersion: _("The client changed; try again.")})

Templates extend ``console/layout.html`` (blocks ``title`` and ``content``) and import
``console/macros.html``. A write's post goes through :func:`handle_write` (``writes.py``). See
docs/console.md.
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping

from flask import Blueprint, Flask

from shared.web.console import charts
from shared.web.console.charts import bar_chart, line_chart
from shared.web.console.flashes import flash, get_flashed_messages
from shared.web.console.formatting import FILTERS, Countdown, countdown
from shared.web.console.i18n import (LANGUAGE_COOKIE, LANGUAGES, N_, _, current_language, gettext,
                                     ngettext, register_messages, template_gettext,
                                     template_ngettext)
from shared.web.console.messages import MESSAGES
from shared.web.console.paging import Page, page_number, paginate
from shared.web.console.session import (CSRF_FIELD, SESSION_COOKIE, csrf_token, load_session)
from shared.web.console.views import (add_error_pages, add_headers, add_routing_error_pages,
                                      add_shared_routes, can,
                                      console_url, current_principal, error_page, redirect_back,
                                      role_label, site_root, staff_page, this_page)
from shared.web.console.webhooks import add_webhook_pages
from shared.web.console.writes import handle_write

__all__ = [
    "make_console_blueprint", "init_console", "staff_page", "can", "redirect_back", "flash",
    "get_flashed_messages", "_", "N_", "gettext", "ngettext", "register_messages", "current_language",
    "current_principal", "error_page", "csrf_token", "Page", "paginate", "page_number",
    "handle_write", "line_chart", "bar_chart", "countdown", "Countdown", "console_url", "LANGUAGES",
    "SESSION_COOKIE", "LANGUAGE_COOKIE", "CSRF_FIELD", "SERVICES",
]

HERE = Path(__file__).resolve().parent
#: The navigation bar: service → its landing page's label (translated when shown).
SERVICES = (("complaints", N_("Complaints")), ("registry", N_("Clients")), ("survey", N_("Surveys")))

register_messages(MESSAGES)


def make_console_blueprint(service: str, import_name: str,
                           template_folder: str | None = None,
                           messages: Mapping[str, Mapping[str, str]] | None = None) -> Blueprint:
    """The ``console`` blueprint of ``service``, at ``/console`` below the service's prefix,
    with the shared sign-in, sign-out and language routes, the webhooks pages (admins,
    ``shared.web.console.webhooks``) and the shared static files
    (``/console/static/console.css``). ``template_folder`` holds the service's templates
    (``console/<service>/*.html``); ``messages`` are the service's translations
    (``{"zh-CN": {english: chinese}}``), its own catalogue: looked up before the shared one on
    its pages, never on another service's."""
    if messages is not None:
        register_messages(messages, service=service)
    bp = Blueprint("console", import_name, url_prefix="/console", template_folder=template_folder,
                   static_folder=str(HERE / "static"), static_url_path="/static")
    bp.console_service = service
    add_shared_routes(bp)
    add_webhook_pages(bp)  # /console/webhooks: the service's webhook endpoints (admins)
    add_error_pages(bp)
    bp.after_request(add_headers)
    return bp


def init_console(app: Flask, blueprint: Blueprint) -> None:
    """Register the service's console blueprint with everything the pages share: templates,
    Jinja globals and filters, security headers, flash messages and error pages."""
    app.register_blueprint(blueprint)
    app.register_blueprint(Blueprint("console_shared", __name__, template_folder="templates"))
    add_routing_error_pages(app)
    env = app.jinja_env
    env.add_extension("jinja2.ext.i18n")
    env.install_gettext_callables(gettext=template_gettext, ngettext=template_ngettext,
                                  newstyle=True)
    env.globals.update(
        _=template_gettext, gettext=template_gettext, ngettext=template_ngettext,
        can=can, csrf_token=csrf_token, current_language=current_language,
        console_flashes=get_flashed_messages, console_url=console_url, site_root=site_root,
        role_label=role_label, console_principal=current_principal, console_services=SERVICES,
        console_this_page=this_page, console_languages=LANGUAGES,
        console_service=getattr(blueprint, "console_service", app.extensions["clientloop"].service),
    )
    env.filters.update(FILTERS)
    app.extensions["clientloop_console"] = blueprint
