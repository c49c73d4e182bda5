"""A service app with the shared console and two pages of its own, for the framework's tests:
``GET /console/`` (any role) shows a form that ``POST /console/notes`` (staff) adds a note with,
and ``GET /console/admin`` needs an admin. No service's own pages are involved."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from flask import render_template_string, request

from services.registry.adapters.orm import platform
from shared.db import Database
from shared.migrations import upgrade
from shared.web.app import ServiceContext, create_service_app
from shared.web.console import (_, flash, init_console, make_console_blueprint, redirect_back,
                                staff_page)

PAGE = """{% extends "console/layout.html" %}{% import "console/macros.html" as ui %}
{% block title %}Notes{% endblock %}
{% block content %}<h1>{{ _("Clients") }}</h1>
<ul id="notes">{% for note in notes %}<li>{{ note }}</li>{% endfor %}</ul>
{% if can("staff") %}<form method="post" action="{{ url_for('console.add_note') }}">
{{ ui.csrf_field() }}{{ ui.field(_("Note"), "note") }}{{ ui.button(_("Save")) }}</form>{% endif %}
{% endblock %}"""


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(timezone.utc)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta) -> None:
        self.now += timedelta(**delta)


def build_app(settings, *, service: str = "registry", clock=None):
    url = settings.database_url("registry")
    upgrade("registry", url)
    ctx = ServiceContext(service, settings, Database(url), platform, clock or Clock())
    app = create_service_app(ctx, title=f"ClientLoop {service}", description="test",
                             blueprints=[])
    bp = make_console_blueprint(service, __name__)
    notes: list[str] = []
    app.notes = notes

    @bp.get("/")
    @staff_page()
    def index():
        return render_template_string(PAGE, notes=notes)

    @bp.post("/notes")
    @staff_page("staff")
    def add_note():
        notes.append(request.form.get("note", ""))
        flash(_("Saved."), "success")
        return redirect_back("console.index")

    @bp.get("/items/<uuid:item_id>")
    @staff_page()
    def item(item_id):
        return str(item_id)

    @bp.get("/admin")
    @staff_page("admin")
    def admin():
        return "admin page"

    init_console(app, bp)
    return app


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def app(settings, clock):
    app = build_app(settings, clock=clock)
    yield app
    app.extensions["clientloop"].database.dispose()
