"""Results and responses in the survey console.

* ``/surveys/<id>/results?from=&to=`` — NPS, CSAT and CES per month (the API's results use
  case, ``group_by=month``) as charts, each with a table of the same numbers, and the totals;
  with the feedback themes of the same period (the API's themes use case): the most mentioned
  themes and the detractor drivers, each with its mentions, share, mean score, NPS and an
  example comment;
* ``/surveys/<id>/responses`` — the responses, oldest first, paged in SQL, each answer shown as
  the client chose it;
* ``/surveys/<id>/responses.csv`` — the API's CSV export for the signed-in session, streamed
  a few hundred rows at a time (``results.csv_stream``).
"""
from __future__ import annotations

from datetime import date
from typing import Any, Mapping

from flask import Blueprint, Response, render_template, request, stream_with_context

from services.survey import results, service, themes
from services.survey.adapters import queries
from services.survey.domain.definition import QuestionType, SurveyDefinition
from services.survey.web.console import ctx, load_survey, localised, rules, survey_summary
from shared.errors import ValidationFailed
from shared.web.console import _, current_language, staff_page
from shared.web.console.charts import line_chart
from shared.web.console.formatting import format_date, format_number
from shared.web.console.paging import page_number, paginate

#: Themes shown on the results page (the most mentioned).
THEMES_SHOWN = 15
MONTH_PATTERNS = {"zh-CN": "yyyy年M月", "en": "MMM yyyy"}
#: Each chart: the metric, its title, the value's range on the chart.
CHARTS = (
    (QuestionType.NPS, "nps", (-100, 100)),
    (QuestionType.CSAT, "csat", (0, 100)),
    (QuestionType.CES, "ces", (1, 7)),
)


def register(bp: Blueprint) -> None:
    bp.add_url_rule("/surveys/<survey_id>/results", "results", results_page,
                    methods=["GET"])
    bp.add_url_rule("/surveys/<survey_id>/responses", "responses", responses_page,
                    methods=["GET"])
    bp.add_url_rule("/surveys/<survey_id>/responses.csv", "responses_csv", responses_csv,
                    methods=["GET"])


# -- results --------------------------------------------------------------------------------
def _dates() -> tuple[date | None, date | None, dict[str, list[str]]]:
    errors: dict[str, list[str]] = {}
    found: dict[str, date | None] = {}
    for name in ("from", "to"):
        text = request.args.get(name, "").strip()
        found[name] = None
        if text:
            try:
                found[name] = date.fromisoformat(text)
            except ValueError:
                errors[name] = [_("Enter a date as YYYY-MM-DD.")]
    return found["from"], found["to"], errors


def month_label(key: str) -> str:
    """``2026-03`` as the reader's language writes a month."""
    try:
        year, month = (int(part) for part in key.split("-"))
        return format_date(date(year, month, 1), format=MONTH_PATTERNS[current_language()])
    except (ValueError, KeyError):
        return key


def metric_names() -> dict[str, str]:
    return {"nps": _("NPS per month"), "csat": _("CSAT per month (% satisfied)"),
            "ces": _("CES per month (mean, 1–7)")}


@staff_page("analyst")
def results_page(survey_id):
    survey = load_survey(survey_id)
    start, end, errors = _dates()
    definition = service.definition_of(survey, rules().definition)
    found = found_themes = None
    if not errors:
        try:
            with ctx().database.transaction() as session:
                found = results.results(session, survey, start=start, end=end, group_by="month",
                                        timezone=ctx().settings.timezone, rules=rules())
                found_themes = themes.themes(
                    session, survey_id=survey.id, start=start, end=end, language=None,
                    timezone=ctx().settings.timezone, config=ctx().extras["themes"],
                    rules=rules().feedback, per_page=THEMES_SHOWN)
        except ValidationFailed as invalid:
            errors = {field: [_("'From' must be on or before 'to'.")] for field in invalid.errors}
    groups = found["groups"] if found else []
    trend = {month["month"]: month for month in (found or {}).get("trend") or []}
    charts = [_chart(metric, y_range, groups, trend) for question_type, metric, y_range in CHARTS
              if definition.first_of(question_type) is not None and groups]
    body = render_template(
        "console/survey/results.html", survey=survey_summary(survey), tab="results",
        overall=found["overall"] if found else None, charts=charts,
        months=[{**group, "label": month_label(group["key"]), "trend": trend.get(group["key"])}
                for group in groups],
        themes=found_themes,
        start=request.args.get("from", ""), end=request.args.get("to", ""), errors=errors,
        summary=errors)
    return body, 422 if errors else 200


def _chart(metric: str, y_range, groups, trend: Mapping[str, dict]) -> dict[str, Any]:
    """One metric per month; NPS with its 95 % interval (the results' ``trend``) as a band and
    two more table columns: the interval and whether the month changed significantly."""
    title = metric_names()[metric]
    points = [(month_label(group["key"]), group[metric]["score"]) for group in groups]
    rows = [[label, format_number(value), format_number(group[metric]["answered"])]
            for (label, value), group in zip(points, groups)]
    headers = [_("Month"), _("Score"), _("Answers")]
    band = band_labels = None
    if metric == "nps" and trend:
        intervals = [(trend.get(group["key"]) or {}).get("nps_ci95") for group in groups]
        band = [interval or (None, None) for interval in intervals]
        band_labels = (_("95 % interval, low"), _("95 % interval, high"))
        headers += [_("95 % interval"), _("Significant change")]
        for row, group, interval in zip(rows, groups, intervals):
            changed = (trend.get(group["key"]) or {}).get("changed")
            row += [interval_text(interval), _("Yes") if changed else ""]
    return {"metric": metric, "title": title,
            "chart": line_chart(title, points, y_range=y_range, band=band,
                                band_labels=band_labels),
            "headers": headers, "rows": rows}


def interval_text(interval) -> str:
    """``[−18.9, 100.0]`` as the page writes numbers; empty without answers."""
    if not interval:
        return ""
    return f"{format_number(interval[0])} – {format_number(interval[1])}"


# -- responses ------------------------------------------------------------------------------
@staff_page("analyst")
def responses_page(survey_id):
    survey = load_survey(survey_id)
    definition = service.definition_of(survey, rules().definition)
    with ctx().database.transaction() as session:
        page = paginate(session, results.responses_statement(survey.id, None, None,
                                                             ctx().settings.timezone),
                        page=page_number())
        names = queries.client_names(session, [row.client_id for row in page.items])
        rows = [{"id": row.id, "client": names.get(row.client_id) or row.client_id,
                 "submitted_at": row.submitted_at, "language": row.language,
                 "score": row.score, "answers": answers_shown(definition, row.answers or {})}
                for row in page.items]
    return render_template("console/survey/responses.html", survey=survey_summary(survey),
                           tab="responses", rows=rows, page=page)


def answers_shown(definition: SurveyDefinition, answers: Mapping[str, Any]) -> list[dict]:
    """Each answered question with its text and the answer as the client chose it."""
    shown = []
    default = definition.default_language
    for question in definition.questions:
        if question.key not in answers:
            continue
        answer = answers[question.key]
        if question.options:
            chosen = answer if isinstance(answer, list) else [answer]
            labels = [localised(option.label, default) if option else str(key)
                      for key in chosen for option in [question.option(str(key))]]
            text = "; ".join(label or "" for label in labels)
        else:
            text = str(answer)
        shown.append({"key": question.key, "question": localised(question.text, default),
                      "answer": text})
    return shown


@staff_page("analyst")
def responses_csv(survey_id):
    """The same CSV as ``GET /api/v1/surveys/<id>/responses?format=csv``, streamed."""
    survey = load_survey(survey_id)
    definition = service.definition_of(survey, rules().definition)
    body = results.csv_stream(ctx().database, definition, survey.id, None, None,
                              ctx().settings.timezone)
    response = Response(stream_with_context(body), mimetype="text/csv")
    response.headers["Content-Type"] = "text/csv; charset=utf-8"
    response.headers["Content-Disposition"] = (
        f'attachment; filename="survey-{survey.id}-responses.csv"')
    response.headers["Cache-Control"] = "no-store"
    return response
