"""The registry's pages of the staff console, under ``/registry/console/``.

* ``/`` — the clients, newest first: search (names, contacts, tags), filters (kind, tier,
  health band, owner, tag, status), paginated in SQL;
* ``/clients/new``, ``/clients/<id>/edit`` — the client form (staff); ``/clients/<id>/archive``
  (staff) and ``/clients/<id>/erase`` (admin, after a page naming what goes);
* ``/clients/<id>`` — the client: profile and contacts, the power/interest grid, satisfaction
  over time with each change's reason, health and value, open complaints and survey responses
  as the registry learnt them from events, the communication plan, follow-up and interactions
  (staff log an interaction or set the plan there);
* ``/portfolio`` — the portfolio report with its charts, and the clients whose health band is
  projected to get worse within ``days`` (1–365, default 90; the at-risk forecast the API's
  ``/forecasts/at-risk`` answers);
* ``/requirements`` — requirements of every client (filters: status, priority, overdue);
* ``/change-requests`` — change requests (submitted ones first) with Approve / Reject (staff;
  never the submitter: four eyes).

Every page calls the use cases the API calls (``service``, ``care``, ``reports``, ``queries``);
forms post, then redirect with a flash message; a form with invalid fields comes back with an
error summary and what was typed (422).
"""
from __future__ import annotations

from dataclasses import replace
from uuid import UUID

from flask import abort, current_app, g, render_template, request, url_for

from services.registry import care, forecasts, queries, reports, requirements, service
from services.registry.adapters.orm import ClientRecord
from services.registry.domain import requirements as requirements_domain
from services.registry.web import care_form, client_form, client_page as page_data
from services.registry.web.console_messages import MESSAGES
from services.registry.web.labels import label, labels
from shared.errors import Conflict, NotFound, StaleVersion
from shared.forecasting import ForecastCache
from shared.web.console import (_, bar_chart, current_language, flash, handle_write, line_chart,
                                make_console_blueprint, ngettext, redirect_back, staff_page)
from shared.web.console.formatting import format_date, format_money, format_number
from shared.web.console.paging import Page, page_number, paginate

console = make_console_blueprint("registry", __name__, template_folder="templates",
                                 messages=MESSAGES)

TEMPLATES = "console/registry/"
PER_PAGE = 25
NEWEST_FIRST = "-created_at"
CHART_DATES = {"zh-CN": "M月d日", "en": "d MMM"}  # short labels under the chart (CLDR patterns)


def ctx():
    return current_app.extensions["clientloop"]


def rules():
    return ctx().extras["rules"]


def currency() -> str:
    return rules().clients.currency


def me() -> str:
    return g.principal.name


@console.context_processor
def registry_vocabulary():
    return {"label": label, "labels": labels, "kinds": client_form.KINDS,
            "currency": currency()}


def _load(session, client_id: UUID) -> ClientRecord:
    try:
        return service.get_client(session, str(client_id))
    except NotFound:
        abort(404)


# -- the list -----------------------------------------------------------------------------------

@console.get("/")
@staff_page()
def client_list():
    query = client_form.read_list_query(request.args)
    with ctx().database.transaction() as session:
        page = paginate(session, queries.client_list(query.filters, NEWEST_FIRST),
                        page=query.page, per_page=PER_PAGE, args=query.filters)
    return render_template(TEMPLATES + "clients.html", page=page, query=query)


# -- new, edit, archive, erase ---------------------------------------------------------------

def form_page(form: client_form.ClientForm, *, client: ClientRecord | None = None,
              status: int = 200):
    return render_template(TEMPLATES + "client_form.html", form=form, client=client), status


@console.get("/clients/new")
@staff_page(role="staff")
def client_new():
    return form_page(client_form.blank_form(rules().default_language))


@console.post("/clients/new")
@staff_page(role="staff")
def client_register():
    form = client_form.read_form(request.form)
    fields, form = client_form.validated(form, currency())
    if fields is None:
        return form_page(form, status=422)
    return handle_write(
        lambda session: service.register_client(session, fields, now=ctx().clock(),
                                                rules=rules()),
        back=lambda client: url_for(".client_page", client_id=client.id),
        done=lambda client: _("Client %(name)s registered.", name=client.name),
        invalid=lambda errors: form_page(client_form.with_errors(form, errors, currency())))


@console.get("/clients/<uuid:client_id>/edit")
@staff_page(role="staff")
def client_edit(client_id: UUID):
    with ctx().database.transaction() as session:
        client = _load(session, client_id)
    if client.status == "erased":
        flash(_("An erased client cannot be changed."), "error")
        return redirect_back(".client_page", client_id=client_id)
    return form_page(client_form.form_of(client), client=client)


@console.post("/clients/<uuid:client_id>/edit")
@staff_page(role="staff")
def client_save(client_id: UUID):
    form = client_form.read_form(request.form)
    fields, form = client_form.validated(form, currency())
    if fields is None:
        with ctx().database.transaction() as session:
            return form_page(form, client=_load(session, client_id), status=422)
    loaded: list[ClientRecord] = []  # the client as it was, for the form shown again

    def save(session) -> dict:
        loaded.append(_load(session, client_id))
        changes = client_form.changes_of(loaded[0], fields)
        if changes:
            service.update_client(session, str(client_id), changes,
                                  expected_version=_version(form.version), now=ctx().clock(),
                                  rules=rules())
        return changes

    def changed_meanwhile(_stale: StaleVersion):
        with ctx().database.transaction() as session:
            client = _load(session, client_id)
        flash(_("Someone else changed this client while you were editing. Your changes are "
                "below; check them against the current client and save again."), "error")
        form.version = str(client.version)
        return form_page(form, client=client, status=409)

    return handle_write(
        save, back=url_for(".client_page", client_id=client_id),
        done=lambda changes: (_("Client saved.") if changes
                              else _("Nothing to save: no field changed.")),
        invalid=lambda errors: form_page(client_form.with_errors(form, errors, currency()),
                                         client=loaded[0]),
        refused={StaleVersion: changed_meanwhile,
                 Conflict: _("An erased client cannot be changed.")})


def _version(text: str | None) -> int | None:
    text = (text or "").strip()
    return int(text) if text.isdigit() else None


@console.post("/clients/<uuid:client_id>/archive")
@staff_page(role="staff")
def client_archive(client_id: UUID):
    def archive(session):
        _load(session, client_id)
        service.archive_client(session, str(client_id),
                               expected_version=_version(request.form.get("version")),
                               now=ctx().clock())

    return handle_write(
        archive, back=url_for(".client_page", client_id=client_id),
        done=_("Client archived: it no longer counts in the portfolio."),
        refused={StaleVersion: _("The client changed since you opened it; check it and try again."),
                 Conflict: _("An erased client cannot be archived.")})


@console.get("/clients/<uuid:client_id>/erase")
@staff_page(role="admin")
def client_erase_confirm(client_id: UUID):
    with ctx().database.transaction() as session:
        client = _load(session, client_id)
        try:
            plan = care.get_plan(session, client.id)
        except NotFound:
            plan = None
        interactions = care.interactions_page(session, client.id, 1, 1)["total"]
    return render_template(TEMPLATES + "erase.html", client=client, plan=plan,
                           interactions=interactions)


@console.post("/clients/<uuid:client_id>/erase")
@staff_page(role="admin")
def client_erase(client_id: UUID):
    def erase(session):
        _load(session, client_id)
        service.erase_client(session, str(client_id),
                             expected_version=_version(request.form.get("version")),
                             now=ctx().clock())

    def changed_meanwhile(_stale: StaleVersion):  # back to the confirmation, not the client
        flash(_("The client changed since you opened it; check it and try again."), "error")
        return redirect_back(".client_erase_confirm", client_id=client_id)

    return handle_write(erase, back=url_for(".client_page", client_id=client_id),
                        done=_("The client's personal data was erased."),
                        refused={StaleVersion: changed_meanwhile})


# -- the client page -------------------------------------------------------------------------

def show_client(client_id: UUID, *, status: int = 200, interaction=None, plan=None):
    """The client page; ``interaction`` / ``plan`` are forms shown again with their errors."""
    with ctx().database.transaction() as session:
        try:
            page = page_data.client_page(session, str(client_id), now=ctx().clock(),
                                         rules=rules())
        except NotFound:
            abort(404)
    if plan is None:
        plan = care_form.plan_form_of(page.plan)
    return render_template(TEMPLATES + "client.html", page=page, client=page.client,
                           satisfaction_chart=satisfaction_chart(page),
                           interaction=interaction or care_form.InteractionForm(),
                           plan_form=plan), status


def satisfaction_chart(page: page_data.ClientPage):
    """S after each ledger entry shown, on a 0–100 scale (None while the ledger is empty)."""
    if not page.ledger:
        return None
    pattern = CHART_DATES[current_language()]
    return line_chart(_("Satisfaction over time"),
                      [(format_date(when, pattern), value) for when, value in page.chart_points],
                      y_range=(0, 100), series=_("Satisfaction"))


@console.get("/clients/<uuid:client_id>")
@staff_page()
def client_page(client_id: UUID):
    return show_client(client_id)


@console.post("/clients/<uuid:client_id>/interactions")
@staff_page(role="staff")
def interaction_log(client_id: UUID):
    form = care_form.read_interaction(request.form)
    fields, form = care_form.interaction_fields(form, rules().zone)
    if fields is None:
        return show_client(client_id, status=422, interaction=form)

    def log(session):
        _load(session, client_id)
        care.log_interaction(session, str(client_id), fields, now=ctx().clock(), by=me(),
                             rules=rules())

    return handle_write(
        log, back=url_for(".client_page", client_id=client_id),
        done=_("Interaction logged."),
        invalid=lambda errors: show_client(
            client_id, interaction=care_form.interaction_errors(form, errors)),
        refused={Conflict: _("An erased client has no care records any more.")})


@console.post("/clients/<uuid:client_id>/plan")
@staff_page(role="staff")
def plan_save(client_id: UUID):
    form = care_form.read_plan(request.form)
    fields, form = care_form.plan_fields(form)
    if fields is None:
        return show_client(client_id, status=422, plan=form)

    def save(session):
        _load(session, client_id)
        care.put_plan(session, str(client_id), fields,
                      expected_version=_version(form.version), now=ctx().clock(), by=me(),
                      rules=rules())

    return handle_write(
        save, back=url_for(".client_page", client_id=client_id),
        done=_("Communication plan saved."),
        invalid=lambda errors: show_client(client_id, plan=care_form.plan_errors(form, errors)),
        refused={StaleVersion: _("The plan changed since you opened it; check it and try again."),
                 Conflict: _("An erased client has no care records any more.")})


# -- the portfolio -----------------------------------------------------------------------------

AT_RISK_DAYS = 90  # how far ahead the at-risk forecast looks unless the page asks (1–365)


@console.get("/portfolio")
@staff_page()
def portfolio():
    days = at_risk_days(request.args)
    with ctx().database.transaction() as session:
        report = reports.portfolio(session, currency())
        at_risk = forecasts.at_risk(session, days=days, now=ctx().clock(), zone=rules().zone,
                                    rules=rules().value,
                                    cache=ctx().extras.setdefault("forecast_cache",
                                                                  ForecastCache()))
    items = at_risk["items"]  # soonest first; a page of them is worded and shown
    number = min(page_number(), max(1, -(-len(items) // PER_PAGE)))
    shown = [dict(item, reasons=at_risk_reasons(item["why"]))
             for item in items[(number - 1) * PER_PAGE:number * PER_PAGE]]
    return render_template(TEMPLATES + "portfolio.html", report=report,
                           sections=portfolio_sections(report), days=days,
                           at_risk=Page(shown, number, PER_PAGE, len(items), {"days": days}))


def at_risk_days(args) -> int:
    """``days`` from the query string: a whole number 1–365, else 90 (a page, not an API: a
    mistyped value shows the default rather than an error)."""
    text = (args.get("days") or "").strip()
    if text.isascii() and text.isdigit() and 1 <= int(text) <= 365:
        return int(text)
    return AT_RISK_DAYS


def at_risk_reasons(why: dict) -> list[str]:
    """The reasons the at-risk forecast gives, in the page's language."""
    reasons = [_("Satisfaction %(value)s, trend %(slope)s a day over the last %(days)s days",
                 value=format_number(why["satisfaction"], 2), slope=f"{why['slope']:+.2f}",
                 days=why["trend_days"])]
    if why["open_complaints"]:
        reasons.append(ngettext("%(num)s open complaint", "%(num)s open complaints",
                                why["open_complaints"]))
    if why["complaints_90d"]:
        reasons.append(ngettext("%(num)s complaint in the last 90 days",
                                "%(num)s complaints in the last 90 days", why["complaints_90d"]))
    return reasons


def portfolio_sections(report: dict) -> list[dict]:
    """One chart per breakdown (clients by kind, annual value by tier, clients by health
    band), each with a table of all its figures."""
    headers = [_("Group"), _("Clients"), _("Mean satisfaction"), _("Annual value"),
               _("Value at risk")]
    plan = [("by_kind", "kind", _("Clients by kind"), "clients"),
            ("by_tier", "tier", _("Annual value by tier"), "annual_value"),
            ("by_band", "band", _("Clients by health band"), "clients")]
    sections = []
    for key, group, title, shown in plan:
        groups = report[key]
        points = [(label(group, name), _amount(figures[shown])) for name, figures in groups.items()]
        rows = [[label(group, name), format_number(figures["clients"]),
                 format_number(figures["satisfaction_mean"], 2),
                 format_money(figures["annual_value"]), format_money(figures["value_at_risk"])]
                for name, figures in groups.items()]
        sections.append({"id": key, "title": title, "chart": bar_chart(title, points),
                         "headers": headers, "rows": rows})
    return sections


def _amount(figure):
    return figure["amount"] if isinstance(figure, dict) else figure


# -- requirements and change requests ----------------------------------------------------------

REQUIREMENT_FILTERS = ("status", "priority", "overdue")


def _requirement_filters(args) -> dict:
    """The list's filters from the query string; unknown values are ignored (a page, not an
    API: a stale bookmark still shows the list)."""
    filters = {}
    if args.get("status") in requirements_domain.STATUSES:
        filters["status"] = args["status"]
    if args.get("priority") in requirements_domain.PRIORITIES:
        filters["priority"] = args["priority"]
    if args.get("overdue") in ("true", "false"):
        filters["overdue"] = args["overdue"]
    return filters


@console.get("/requirements")
@staff_page()
def requirement_list():
    filters = _requirement_filters(request.args)
    query = dict(filters)
    if "overdue" in query:
        query["overdue"] = query["overdue"] == "true"
    on = requirements.today(ctx().clock(), rules())
    with ctx().database.transaction() as session:
        page = paginate(session, requirements.requirements_statement(query, on=on),
                        page=page_number(), per_page=PER_PAGE, args=filters)
        names = requirements.client_names(session, {row.client_id for row in page.items})
        page = replace(page, items=[requirements.requirement_view(row, on) for row in page.items])
    return render_template(TEMPLATES + "requirements.html", page=page, filters=filters,
                           names=names)


@console.get("/change-requests")
@staff_page()
def change_request_list():
    status = request.args.get("status", "submitted")
    if status not in requirements_domain.CR_STATUSES:
        status = "submitted"
    with ctx().database.transaction() as session:
        page = paginate(session, requirements.change_requests_statement({"status": status}),
                        page=page_number(), per_page=PER_PAGE,
                        args={"status": status})
        titles = requirements.requirement_titles(session, {row.requirement_id for row in page.items})
        names = requirements.client_names(session, {row.client_id for row in page.items})
        page = replace(page, items=[requirements.change_request_view(row, rules())
                                    for row in page.items])
    return render_template(TEMPLATES + "change_requests.html", page=page, status=status,
                           titles=titles, names=names, me=me())


@console.post("/change-requests/<uuid:change_request_id>/decision")
@staff_page(role="staff")
def change_request_decide(change_request_id: UUID):
    decision = request.form.get("decision")
    if decision not in requirements_domain.DECISIONS:
        abort(400)
    with ctx().database.transaction() as session:
        requirements.check_four_eyes(session, str(change_request_id), me())  # 403 page

    def decide(session):
        return requirements.decide(session, str(change_request_id), decision,
                                   request.form.get("note"),
                                   expected_version=_version(request.form.get("version")),
                                   now=ctx().clock(), by=me(), rules=rules())

    return handle_write(
        decide, back=url_for(".change_request_list"),
        done=lambda record: (_("Change request approved and applied.")
                             if record.status == "approved" else _("Change request rejected.")),
        refused={StaleVersion: _("The change request changed since you opened it; check it and "
                                 "try again."),
                 Conflict: lambda refusal: refusal.detail})
