"""The complaints pages of the staff console, under ``/complaints/console/``.

* ``/`` — the queue: filters, search (ref, title, client name), sorted by the next deadline,
  each row with its countdown; paginated in SQL (``adapters.queue``);
* ``/complaints/<id>`` — one complaint: its fields, the client (from the local directory,
  linked to the registry's client page), the timeline, and — for staff — only the actions its
  status allows, each its own form, internal notes and triage corrections (previewed with the
  new deadlines before they are saved);
* ``/new`` — a new complaint, its client picked from a search of the local directory;
* ``/analysis`` — the complaint analysis for a date range, every chart with its numbers
  (the root-cause Pareto among them; the weekly volume with the next weeks' forecast band and
  its table, from the forecast use case the API answers, ``services.complaints.forecasts``),
  and the improvement actions with their effect: a form to plan one and, for staff, the
  workflow buttons each one's status allows
  (``/improvements``, ``/improvements/<id>/actions``).

A page is one more entry point into the use cases of ``services.complaints.service`` (the ones
the API calls), never a second path to the data. Forms post, then redirect with a flash
message; a form with invalid fields is shown again with an error summary and what was typed.
"""
from __future__ import annotations

from datetime import date, timedelta
from typing import Any, Mapping
from uuid import UUID

import pygal
from pygal.style import Style
from flask import abort, current_app, g, render_template, request, url_for
from markupsafe import Markup

from services.complaints import improvements, service
from services.complaints.adapters import improvements as improvement_store
from services.complaints.adapters import queue, repository
from services.complaints.domain.complaint import Complaint
from services.complaints.domain.fields import ACTION_FIELDS
from services.complaints.domain.workflow import CORRECTABLE_STATUSES, Status
from services.complaints.web import analysis
from services.complaints.web.console_forms import (
    ACTION_LABELS, BACKLOG_LABELS, CATEGORY_LABELS, CHANNEL_LABELS, CLIENT_STATUS_LABELS,
    FIELD_LABELS, PER_PAGE, RESOLUTION_LABELS, SEVERITY_LABELS, STATUS_LABELS, TIMELINE_LABELS,
    action_fields, correction_fields, message_key, opening_fields, read_queue_query,
    read_version)
from services.complaints.web.console_messages import MESSAGES
from shared.errors import ActionNotAllowed, Conflict, NotFound, StaleVersion
from shared.web.console import (N_, _, bar_chart, current_language, handle_write,
                                make_console_blueprint, staff_page)
from shared.forecasting import ForecastCache
from shared.web.console import charts
from shared.web.console.formatting import (duration_text, format_date, format_number,
                                           format_percent)
from shared.web.console.paging import Page

console = make_console_blueprint("complaints", __name__, template_folder="templates",
                                 messages=MESSAGES)

TEMPLATES = "console/complaints/"


def ctx():
    return current_app.extensions["clientloop"]


def rules():
    return ctx().extras["rules"]


def me() -> str:
    return g.principal.name


def translated_errors(errors: Mapping[str, list[str]], form: str | None = None
                      ) -> dict[str, list[str]]:
    """Field errors (the domain's English messages) in the page's language, keyed
    ``<form>-<field>`` when the page has several forms (the ids of their fields)."""
    prefix = f"{form}-" if form else ""
    return {prefix + name: [_(key, **values) for key, values in map(message_key, messages)]
            for name, messages in errors.items()}


def _options(labels: Mapping[str, str]) -> list[tuple[str, str]]:
    return [(value, _(label)) for value, label in labels.items()]


def page(template: str, status: int = 200, **context):
    """A console page with the vocabulary's labels and choices in the page's language."""
    return render_template(
        TEMPLATES + template, status_labels=STATUS_LABELS, severity_labels=SEVERITY_LABELS,
        category_labels=CATEGORY_LABELS, channel_labels=CHANNEL_LABELS,
        resolution_labels=RESOLUTION_LABELS, action_labels=ACTION_LABELS,
        timeline_labels=TIMELINE_LABELS, field_labels=FIELD_LABELS,
        client_status_labels=CLIENT_STATUS_LABELS,
        vocabulary_labels={"severity": SEVERITY_LABELS, "category": CATEGORY_LABELS},
        status_options=_options(STATUS_LABELS), severity_options=_options(SEVERITY_LABELS),
        category_options=_options(CATEGORY_LABELS), channel_options=_options(CHANNEL_LABELS),
        resolution_options=_options(RESOLUTION_LABELS), **context), status


# -- the queue ---------------------------------------------------------------------------------

@console.get("/")
@staff_page()
def complaint_queue():
    query = read_queue_query(request.args, me())
    now = ctx().clock()
    with ctx().database.transaction() as session:
        rows, total = ([], 0) if query.errors else queue.queue_page(
            session, query.filters, now, page=query.page, per_page=PER_PAGE)
        assignees = queue.assignees(session)
    kept = {name: value for name, value in request.args.items() if name != "page"}
    return page("queue.html", 422 if query.errors else 200,
                page=Page(rows, query.page, PER_PAGE, total, kept), query=query, now=now,
                assignee_options=[(name, name) for name in assignees],
                errors=translated_errors(query.errors))


# -- one complaint ------------------------------------------------------------------------------

def _load(session, complaint_id: UUID) -> Complaint:
    try:
        return service.get_complaint(session, complaint_id)
    except NotFound:
        abort(404)


def complaint_page(complaint_id: UUID, *, status: int = 200, form: str | None = None,
                   values: Mapping[str, Any] | None = None,
                   errors: Mapping[str, list[str]] | None = None,
                   preview: Complaint | None = None):
    """The complaint page; ``form`` names the form shown again with ``values`` and ``errors``
    (``"action:resolve"``, ``"note"``, ``"triage"``), whose fields' ids the errors take."""
    now = ctx().clock()
    with ctx().database.transaction() as session:
        complaint = _load(session, complaint_id)
        timeline = repository.load_timeline(session, complaint_id)
        client = queue.client_entry(session, str(complaint.client_id))
    allowed = [str(action) for action in complaint.allowed_actions(now, rules())]
    return page("complaint.html", status, complaint=complaint, timeline=timeline,
                client=client, now=now, allowed=allowed, action_fields=ACTION_FIELDS,
                can_note=complaint.status != Status.CLOSED,
                can_correct=complaint.status in CORRECTABLE_STATUSES,
                form=form, values=values or {}, preview=preview,
                errors=translated_errors(errors or {}, (form or "").removeprefix("action:")))


@console.get("/complaints/<uuid:complaint_id>")
@staff_page()
def complaint(complaint_id: UUID):
    return complaint_page(complaint_id)


def _allowed_labels(allowed: list[str]) -> str:
    return ", ".join(_(ACTION_LABELS[action]) for action in allowed) or _("none")


def _not_allowed(refused: ActionNotAllowed) -> str:
    return _("%(action)s is not allowed now. Allowed: %(allowed)s.",
             action=_(ACTION_LABELS.get(refused.action, refused.action)),
             allowed=_allowed_labels(refused.allowed_actions))


def _stale() -> str:
    return _("The complaint changed since you opened it; check it and try again.")


@console.post("/complaints/<uuid:complaint_id>/actions")
@staff_page(role="staff")
def act(complaint_id: UUID):
    action = request.form.get("action", "")
    fields = action_fields(action, request.form)
    return handle_write(
        lambda session: service.act(session, complaint_id, action, fields, by=me(),
                                    now=ctx().clock(), rules=rules(),
                                    expected_version=read_version(request.form)),
        back=url_for(".complaint", complaint_id=complaint_id),
        done=lambda _changed: _("%(action)s: done.", action=_(ACTION_LABELS[action])),
        invalid=lambda errors: complaint_page(complaint_id, form=f"action:{action}",
                                              values=request.form, errors=errors),
        refused={ActionNotAllowed: _not_allowed, StaleVersion: _stale(),
                 Conflict: _("Someone else is changing this complaint right now; try again.")})


@console.post("/complaints/<uuid:complaint_id>/notes")
@staff_page(role="staff")
def add_note(complaint_id: UUID):
    return handle_write(
        lambda session: service.add_note(session, complaint_id, request.form.get("text", ""),
                                         by=me(), now=ctx().clock(), rules=rules(),
                                         expected_version=None),
        back=url_for(".complaint", complaint_id=complaint_id),
        done=_("Note added."),
        invalid=lambda errors: complaint_page(complaint_id, form="note", values=request.form,
                                              errors=errors),
        refused={Conflict: _("Notes cannot be added to a closed complaint.")})


@console.post("/complaints/<uuid:complaint_id>/triage")
@staff_page(role="staff")
def correct(complaint_id: UUID):
    """``intent=preview`` shows the page again with the deadlines the correction would give;
    ``intent=save`` applies it."""
    changes = correction_fields(request.form)
    previewing = request.form.get("intent") == "preview"

    def run(session):
        if previewing:
            return service.preview_correction(session, complaint_id, changes, by=me(),
                                              now=ctx().clock(), rules=rules())
        return service.correct(session, complaint_id, changes, by=me(), now=ctx().clock(),
                               rules=rules(), expected_version=read_version(request.form))

    def done(outcome):
        if previewing:
            return complaint_page(complaint_id, form="triage", values=request.form,
                                  preview=outcome)
        return _("Corrections saved.") if outcome.entries else _("Nothing to correct.")

    return handle_write(
        run, back=url_for(".complaint", complaint_id=complaint_id), done=done,
        invalid=lambda errors: complaint_page(complaint_id, form="triage", values=request.form,
                                              errors=errors),
        refused={StaleVersion: _stale(),
                 Conflict: _("This complaint can no longer be corrected.")})


# -- a new complaint ---------------------------------------------------------------------------

def new_complaint_page(*, status: int = 200, values: Mapping[str, Any] | None = None,
                       errors: Mapping[str, list[str]] | None = None):
    values = values or {}
    search = (request.values.get("client_q") or "").strip()[:200]
    picked_id = values.get("client_id") or request.args.get("client_id") or ""
    with ctx().database.transaction() as session:
        clients = queue.search_clients(session, search) if search else []
        picked = queue.client_entry(session, picked_id) if _is_uuid(picked_id) else None
    if picked is not None and all(c["id"] != picked["id"] for c in clients):
        clients.insert(0, picked)
    return page("new.html", status, search=search, picked_id=picked["id"] if picked else "",
                values=values, clients=clients, sla_targets=sla_targets(),
                client_options=[(client["id"], client_label(client)) for client in clients],
                errors=translated_errors(errors or {}, "new"))


def sla_targets() -> str:
    """The configured deadlines per severity, most serious first ("Critical 1 h / 1 d; …")."""
    policy = rules().sla
    return "; ".join(
        _("%(severity)s %(respond)s / %(resolve)s", severity=_(SEVERITY_LABELS[severity]),
          respond=duration_text(policy.targets[severity].respond),
          resolve=duration_text(policy.targets[severity].resolve))
        for severity in reversed(SEVERITY_LABELS))


def client_label(client: Mapping[str, Any]) -> str:
    name = client["name"] or _("Unknown client")
    if client["tier"]:
        name = _("%(name)s (tier %(tier)s)", name=name, tier=client["tier"])
    if client["status"] != "active":
        name = f"{name} · {_(CLIENT_STATUS_LABELS.get(client['status'], client['status']))}"
    return name


def _is_uuid(value: str) -> bool:
    try:
        UUID(value)
    except (TypeError, ValueError):
        return False
    return True


@console.get("/new")
@staff_page(role="staff")
def new_complaint():
    return new_complaint_page()


@console.post("/new")
@staff_page(role="staff")
def open_complaint():
    fields = opening_fields(request.form)
    if not _is_uuid(fields["client_id"]):  # none picked: say so, with the other fields' errors
        with ctx().database.transaction() as session:
            problems = service.opening_errors(session, {**fields, "client_id": None}, rules())
        problems["client_id"] = [N_("Choose a client.")]
        return new_complaint_page(status=422, values=request.form, errors=problems)
    return handle_write(
        lambda session: service.open_new_complaint(session, fields, by=me(), now=ctx().clock(),
                                                   rules=rules()),
        back=lambda changed: url_for(".complaint", complaint_id=changed.complaint.id),
        done=lambda changed: _("Complaint %(ref)s opened.", ref=changed.complaint.ref),
        invalid=lambda errors: new_complaint_page(values=request.form, errors=errors))


# -- the analysis ------------------------------------------------------------------------------

IMPROVEMENT_STATUS_LABELS = {
    "planned": N_("Planned"), "in_progress": N_("In progress"), "done": N_("Done"),
    "effective": N_("Effective"), "ineffective": N_("Ineffective"),
    "cancelled": N_("Cancelled")}
IMPROVEMENT_ACTION_LABELS = {
    "start": N_("Start"), "complete": N_("Complete"), "judge_effective": N_("Judge effective"),
    "judge_ineffective": N_("Judge ineffective"), "cancel": N_("Cancel action")}
IMPROVEMENT_MESSAGES = (N_("Not a valid date."),)
"""What the improvement form's checks may say beyond the complaint forms' messages."""
IMPROVEMENTS_SHOWN = 50
"""The newest improvement actions listed on the analysis page."""


def _improvements(session) -> list[dict[str, Any]]:
    """The newest improvement actions with their effect (two statements)."""
    rows = session.execute(improvement_store.list_statement().limit(IMPROVEMENTS_SHOWN)
                           ).scalars().all()
    found = [improvement_store.improvement_from_row(row) for row in rows]
    effects = improvement_store.effects(session, found, ctx().clock())
    return [{"improvement": item, "effect": effects[item.id],
             "allowed": [str(action) for action in item.allowed_actions()]} for item in found]


@console.get("/analysis")
@staff_page()
def complaint_analysis():
    return analysis_page()


def analysis_page(*, status: int = 200, values: Mapping[str, Any] | None = None,
                  errors: Mapping[str, list[str]] | None = None):
    """The analysis page; ``values`` and ``errors``: the improvement form shown again."""
    period, period_errors = analysis.read_period(request.args, ctx().clock(),
                                                 ctx().extras["timezone"])
    labels = {"improvement_status_labels": IMPROVEMENT_STATUS_LABELS,
              "improvement_action_labels": IMPROVEMENT_ACTION_LABELS,
              "improvement_values": values or {},
              "improvement_errors": translated_errors(errors or {})}
    if period_errors:
        return page("analysis.html", 422, period=period, figures=None,
                    errors=translated_errors(period_errors), improvements=None, **labels)
    with ctx().database.transaction() as session:
        figures = analysis.figures(session, period, ctx().clock())
        forecast = analysis.weekly_forecast(
            session, now=ctx().clock(), zone=ctx().extras["timezone"],
            cache=ctx().extras.setdefault("forecast_cache", ForecastCache()))
        shown = _improvements(session)
    return page("analysis.html", status, period=period, figures=figures, errors={},
                improvements=shown, **labels,
                timezone=ctx().settings.timezone, charts=analysis_charts(figures, forecast),
                rates={name: None if figures[name] is None else figures[name] / 100
                       for name in ("sla_breach_rate", "reopen_rate")},
                durations={name: {kind: _duration(figures[name][kind])
                                  for kind in ("mean", "median")}
                           for name in ("time_to_acknowledge_s", "time_to_resolve_s")})


WEEK_LABELS = {"zh-CN": "M月d日", "en": "d MMM"}
"""The chart's labels of a week (its Monday); the table beside it gives the whole date."""


def _duration(seconds: float | None) -> str:
    return "—" if seconds is None else duration_text(timedelta(seconds=seconds))


def _chart(title: str, image, headers: list[str], rows: list[list[Any]], note: str = ""):
    return {"title": title, "image": image, "headers": headers, "rows": rows, "note": note}


def _counts_chart(title: str, header: str, counts: Mapping[str, int],
                  labels: Mapping[str, str], note: str = ""):
    items = [(_(labels.get(key, key)), count) for key, count in counts.items()]
    return _chart(title, bar_chart(title, items), [header, _("Complaints")],
                  [[label, format_number(count)] for label, count in items], note)


FORECAST_METHOD_LABELS = {
    "insufficient_history": N_("Too little history: the mean of the weeks so far, with Poisson "
                               "intervals"),
    "ets_damped": N_("Exponential smoothing with a damped trend"),
    "ets_damped_seasonal": N_("Exponential smoothing with a damped trend and yearly "
                              "seasonality")}
BAND_95, BAND_80, MEAN_LINE = "#c9d8f6", "#8eaeea", "#b45309"
"""The forecast's colours: the 95 % and 80 % intervals (shaded) and the mean (dashed)."""


class _BandLine(pygal.Line):
    """pygal's line whose filled series may start later than the first label: the shaded area
    starts at a series' first value instead of joining it to the first label's baseline."""

    def _fill(self, values):
        first = next((i for i, (_x, y) in enumerate(values) if y is not None), 0)
        return super()._fill(values[first:])


def _band_weeks(weekly: list[tuple[date, int]], forecast: Mapping[str, Any] | None
                ) -> tuple[list[date], dict[date, Mapping[str, Any]]]:
    """The chart's weeks and the forecast by week: the forecast weeks follow the period's when
    the period reaches the last complete week (else there is no band; the table still shows
    the forecast)."""
    weeks = [monday for monday, _count in weekly]
    bands = {date.fromisoformat(item["week"]): item
             for item in (forecast or {}).get("forecast", [])}
    if not bands or not weeks or weeks[-1] < min(bands) - timedelta(weeks=1):
        return weeks, {}
    return sorted(set(weeks) | set(bands)), bands


def weekly_chart(title: str, weekly: list[tuple[date, int]],
                 forecast: Mapping[str, Any] | None) -> Markup:
    """The weekly volume as ``charts.line_chart`` draws it, with the forecast's 95 % and 80 %
    intervals shaded and its mean dashed (the same pygal style, an ``<img>`` of the SVG); the
    ``alt`` text lists the counts, the forecast has its own table."""
    weeks, bands = _band_weeks(weekly, forecast)
    counts = dict(weekly)
    short = WEEK_LABELS[current_language()]
    many = len(weeks) > 12
    colours = (BAND_95, BAND_80, BAND_95, "#ffffff") if bands else ()
    style = Style(**{**charts.STYLE.to_dict(), "opacity": "1",
                     "colors": (*colours, charts.STYLE.colors[0], MEAN_LINE)})
    chart = _BandLine(**charts._config(
        title, style=style, x_label_rotation=30 if many else 0, show_minor_x_labels=not many,
        x_labels_major_every=max(1, len(weeks) // 8) if many else None,
        allow_interruptions=True, dots_size=4, stroke_style={"width": 3},
        show_legend=bool(bands), legend_at_bottom=True))
    chart.x_labels = [format_date(monday, short) for monday in weeks]

    def band(key: str) -> list[float | None]:
        return [bands[monday][key] if monday in bands else None for monday in weeks]

    if bands:  # from the top down, each filled to the axis: 95 %, 80 %, 80 %, 95 % (white)
        flat = {"width": 0}
        chart.add(_("95 % forecast interval"), band("hi95"), fill=True, show_dots=False,
                  stroke_style=flat)
        chart.add(_("80 % forecast interval"), band("hi80"), fill=True, show_dots=False,
                  stroke_style=flat)
        chart.add(None, band("lo80"), fill=True, show_dots=False, stroke_style=flat)
        chart.add(None, band("lo95"), fill=True, show_dots=False, stroke_style=flat)
    chart.add(_("Complaints opened"), [counts.get(monday) for monday in weeks])
    if bands:
        chart.add(_("Forecast mean"), band("mean"), show_dots=False,
                  stroke_style={"width": 2, "dasharray": "6, 4"})
    points = [(format_date(monday, short), count) for monday, count in weekly]
    return charts.as_image(charts._svg(chart), charts._alt(title, points))


def _interval(low: float, high: float) -> str:
    return _("%(low)s–%(high)s", low=format_number(low, 2), high=format_number(high, 2))


def forecast_table(forecast: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The forecast as text: a row per week (mean, 80 % and 95 % intervals), the method and the
    backtest's MAE and MASE."""
    if forecast is None:
        return None
    test = forecast["backtest"]
    return {
        "headers": [_("Forecast week of"), _("Mean"), _("80 % forecast interval"),
                    _("95 % forecast interval")],
        "rows": [[format_date(date.fromisoformat(item["week"])), format_number(item["mean"], 2),
                  _interval(item["lo80"], item["hi80"]), _interval(item["lo95"], item["hi95"])]
                 for item in forecast["forecast"]],
        "method": _(FORECAST_METHOD_LABELS.get(forecast["method"], forecast["method"])),
        "backtest": None if test is None else {
            "points": test["points"], "mae": format_number(test["mae"], 2),
            "mase": "—" if test["mase"] is None else format_number(test["mase"], 2)}}


def analysis_charts(figures: Mapping[str, Any],
                    forecast: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """Every chart of the analysis page with the table of its numbers; the weekly volume with
    ``forecast`` (one series of ``GET /forecasts/complaints``) drawn and tabled beside it."""
    weekly_title = _("Complaints opened per week")
    weeks = [(format_date(monday), count) for monday, count in figures["weekly"]]
    pareto_title = _("Root causes (Pareto)")
    pareto = [(_("Other causes") if row["cause"] == analysis.OTHER_CAUSES else row["cause"], row)
              for row in figures["pareto"]]
    return [
        {**_chart(weekly_title, weekly_chart(weekly_title, figures["weekly"], forecast),
                  [_("Week of"), _("Complaints")],
                  [[week, format_number(count)] for week, count in weeks]),
         "forecast": forecast_table(forecast)},
        _counts_chart(_("By category"), _("Category"), figures["by_category"], CATEGORY_LABELS),
        _counts_chart(_("By severity"), _("Severity"), figures["by_severity"], SEVERITY_LABELS),
        _counts_chart(_("By channel"), _("Channel"), figures["by_channel"], CHANNEL_LABELS),
        _chart(pareto_title, bar_chart(pareto_title, [(cause, row["complaints"])
                                                      for cause, row in pareto]),
               [_("Root cause"), _("Complaints"), _("Share"), _("Cumulative share")],
               [[cause, format_number(row["complaints"]), format_percent(row["share"] / 100, 1),
                 format_percent(row["cumulative_share"] / 100, 1)] for cause, row in pareto],
               note=_("Resolved complaints of the period by root cause, biggest first: the "
                      "few causes behind most complaints come first.")),
        _counts_chart(_("Open complaints by age"), _("Age"), figures["backlog_by_age"],
                      BACKLOG_LABELS, note=_("Every complaint still open at the end of the "
                                             "period (or now), whenever it was opened.")),
    ]


# -- improvement actions -------------------------------------------------------------------------

def _improvement_fields(form: Mapping[str, str]) -> dict[str, Any]:
    """The improvement form's fields (blank optional ones: none)."""
    fields: dict[str, Any] = {name: (form.get(name) or "").strip() or None
                              for name in ("title", "root_cause", "description", "category",
                                           "owner")}
    due_on = (form.get("due_on") or "").strip()
    fields["due_on"] = None
    if due_on:
        try:
            fields["due_on"] = date.fromisoformat(due_on)
        except ValueError:
            fields["due_on"] = due_on  # refused by the domain as not a date
    return fields


def _back_to_analysis() -> str:
    return url_for(".complaint_analysis") + "#improvements"


@console.post("/improvements")
@staff_page(role="staff")
def plan_improvement():
    fields = _improvement_fields(request.form)
    return handle_write(
        lambda session: improvements.create_improvement(session, fields, by=me(),
                                                        now=ctx().clock()),
        back=_back_to_analysis(),
        done=lambda improvement: _("Improvement action planned: %(title)s.",
                                   title=improvement.title),
        invalid=lambda errors: analysis_page(values=request.form, errors=errors))


@console.post("/improvements/<uuid:improvement_id>/actions")
@staff_page(role="staff")
def act_on_improvement(improvement_id: UUID):
    action = request.form.get("action", "")
    if action not in IMPROVEMENT_ACTION_LABELS:
        abort(422)

    def not_allowed(refused: ActionNotAllowed) -> str:
        allowed = ", ".join(_(IMPROVEMENT_ACTION_LABELS[name])
                            for name in refused.allowed_actions) or _("none")
        return _("%(action)s is not allowed now. Allowed: %(allowed)s.",
                 action=_(IMPROVEMENT_ACTION_LABELS[action]), allowed=allowed)

    return handle_write(
        lambda session: improvements.act_on_improvement(
            session, improvement_id, action, None, by=me(), now=ctx().clock(),
            expected_version=read_version(request.form)),
        back=_back_to_analysis(),
        done=_("%(action)s: done.", action=_(IMPROVEMENT_ACTION_LABELS[action])),
        refused={ActionNotAllowed: not_allowed,
                 StaleVersion: _("The improvement action changed since you opened the page; "
                                 "check it and try again."),
                 Conflict: _("Someone else is changing this improvement action right now; "
                             "try again.")})
