"""The survey service's staff console: ``/survey/console/…``.

* ``/`` — the surveys, newest first, with their responses and invitations (paged in SQL);
* ``/surveys/new`` and ``/surveys/<id>`` — the builder of a draft (``builder.py``: one form,
  no JavaScript; each button posts it), or the survey as defined once published;
* ``/surveys/<id>/preview`` — the form as the client will see it, that cannot be submitted;
* ``/surveys/<id>/publish`` and ``/close``;
* invitations (``console_invitations.py``), results and responses (``console_results.py``).

Every page calls the use cases the API calls (``service.py``, ``results.py``) and reads through
the same queries (``adapters/queries.py``). Analysts read; staff and admins change. The layout,
sign-in, CSRF, flash messages and charts are the shared console's (``shared.web.console``).
"""
from __future__ import annotations

import uuid
from typing import Any, Mapping

from flask import Blueprint, Flask, abort, current_app, g, render_template, request, url_for

from services.survey import service
from services.survey.adapters import queries
from services.survey.adapters.orm import SurveyRecord
from services.survey.domain.languages import LANGUAGES
from services.survey.domain.lifecycle import SurveyStatus
from services.survey.web import builder, console_text
from services.survey.web.console_text import language_name
from shared.errors import ActionNotAllowed, Conflict, StaleVersion, ValidationFailed
from shared.web.console import (_, can, current_language, flash, init_console,
                                make_console_blueprint, redirect_back, staff_page)
from shared.web.console.paging import page_number, paginate

SERVICE = "survey"


def ctx():
    return current_app.extensions["clientloop"]


def rules() -> service.SurveyRules:
    return ctx().extras["rules"]


def actor() -> str:
    return g.principal.name


def init_survey_console(app: Flask) -> Blueprint:
    """Register the survey console on ``app`` (called by ``create_app``)."""
    from services.survey.web import console_invitations, console_results
    from services.survey.web.console_messages import MESSAGES
    blueprint = make_console_blueprint(SERVICE, __name__, template_folder="templates",
                                       messages=MESSAGES)
    blueprint.context_processor(lambda: {"language_name": language_name})
    register(blueprint)
    console_invitations.register(blueprint)
    console_results.register(blueprint)
    init_console(app, blueprint)
    return blueprint


def register(bp: Blueprint) -> None:
    bp.add_url_rule("/", "index", survey_list, methods=["GET"])
    bp.add_url_rule("/surveys/new", "new_survey", new_survey, methods=["GET"])
    bp.add_url_rule("/surveys/new", "create_survey", create_survey, methods=["POST"])
    bp.add_url_rule("/surveys/<survey_id>", "survey", survey_page, methods=["GET"])
    bp.add_url_rule("/surveys/<survey_id>", "save_survey", save_survey, methods=["POST"])
    bp.add_url_rule("/surveys/<survey_id>/preview", "preview", preview, methods=["GET"])
    bp.add_url_rule("/surveys/<survey_id>/publish", "publish", publish, methods=["POST"])
    bp.add_url_rule("/surveys/<survey_id>/close", "close", close, methods=["POST"])


# -- what pages show of a survey ------------------------------------------------------------
def localised(texts: Mapping[str, str] | None, default_language: str | None = None) -> str | None:
    """A survey text in the reader's language when the survey has it, else its default."""
    if not texts:
        return None
    return (texts.get(current_language()) or texts.get(default_language or "")
            or next(iter(texts.values()), None))


def survey_summary(survey: SurveyRecord) -> dict[str, Any]:
    definition = survey.definition
    languages = definition.get("languages") or list(LANGUAGES)
    return {"id": survey.id, "status": survey.status, "version": survey.version,
            "title": localised(definition.get("title"), languages[0]),
            "languages": languages, "created_at": survey.created_at,
            "created_by": survey.created_by, "published_at": survey.published_at,
            "closed_at": survey.closed_at,
            "send_after_complaint_resolved": survey.send_after_complaint_resolved}


def known_id(value: str) -> str:
    """An id from the path: a UUID, else a 404 page (the console's own, not the API's
    problem details that the shared ``uuid`` converter would give)."""
    try:
        return str(uuid.UUID(value))
    except ValueError:
        abort(404)


def load_survey(survey_id: str) -> SurveyRecord:
    """The survey the path names (404 page if none); read outside any form."""
    with ctx().database.transaction() as session:
        survey = session.get(SurveyRecord, known_id(survey_id))
        if survey is None:
            abort(404)
        session.expunge(survey)
        return survey


# -- the list -------------------------------------------------------------------------------
@staff_page("analyst")
def survey_list():
    status = request.args.get("status") or None
    if status not in {value.value for value in SurveyStatus}:
        status = None
    with ctx().database.transaction() as session:
        page = paginate(session, queries.surveys(status), page=page_number(),
                        args={"status": status} if status else {})
        ids = [survey.id for survey in page.items]
        responses = queries.response_counts(session, ids)
        invitations = queries.invitation_counts(session, ids)
        rows = [{**survey_summary(survey), "responses": responses.get(survey.id, 0),
                 "invitations": invitations.get(survey.id, 0)} for survey in page.items]
    return render_template("console/survey/list.html", rows=rows, page=page, status=status,
                           statuses=console_text.survey_statuses())


# -- the builder ----------------------------------------------------------------------------
@staff_page("staff")
def new_survey():
    first = current_language()
    draft = builder.Draft(languages=[first, *[other for other in LANGUAGES if other != first]])
    return render_builder(draft, None)


@staff_page("staff")
def create_survey():
    form = request.form.to_dict(flat=False)
    draft, op = _posted_draft(form)
    if not op.saves:
        return render_builder(draft, None, notice=_added_notice(op))
    try:
        with ctx().database.transaction() as session:
            survey = service.create_survey(session, builder.definition_of_draft(draft),
                                           by=actor(), now=ctx().clock(), rules=rules())
            survey_id = survey.id
    except ValidationFailed as invalid:
        return render_builder(draft, None, errors=invalid.errors, status=422)
    flash(_("Draft saved. Publish it when it is ready."), "success")
    return redirect_back(".survey", survey_id=survey_id)


@staff_page("analyst")
def survey_page(survey_id):
    survey = load_survey(survey_id)
    if survey.status == SurveyStatus.DRAFT and can("staff"):
        return render_builder(builder.draft_of(survey.definition, survey.version), survey)
    return render_template("console/survey/survey.html", survey=survey_summary(survey),
                           definition=console_text.definition_view(survey.definition),
                           tab="survey")


@staff_page("staff")
def save_survey(survey_id):
    survey = load_survey(survey_id)
    if survey.status != SurveyStatus.DRAFT:
        flash(_("Only a draft can be changed; this survey is %(status)s.",
                status=console_text.survey_status(survey.status)), "error")
        return redirect_back(".survey", survey_id=survey.id)
    form = request.form.to_dict(flat=False)
    draft, op = _posted_draft(form)
    if not op.saves:
        return render_builder(draft, survey, notice=_added_notice(op))
    try:
        with ctx().database.transaction() as session:
            service.update_survey(session, survey.id, builder.definition_of_draft(draft),
                                  expected_version=draft.version, now=ctx().clock(),
                                  rules=rules())
    except ValidationFailed as invalid:
        return render_builder(draft, survey, errors=invalid.errors, status=422)
    except StaleVersion:
        current = load_survey(survey_id)
        draft.version = current.version
        message = _("Someone else saved this survey after you opened it. Your changes are "
                    "shown below but not saved; saving again replaces theirs.")
        return render_builder(draft, current, errors={"version": [message]}, status=409,
                              translated=True)
    except ActionNotAllowed:
        flash(_("Only a draft can be changed."), "error")
        return redirect_back(".survey", survey_id=survey.id)
    flash(_("Draft saved."), "success")
    anchor = f"question-{_landing(op, len(draft.questions))}" if op.question is not None else None
    return redirect_back(".survey", survey_id=survey.id, _anchor=anchor)


def _posted_draft(form: Mapping[str, list[str]]) -> tuple[builder.Draft, builder.Op]:
    op = builder.op_from_form(form)
    draft = builder.apply(builder.draft_from_form(form), op, (form.get("new_type") or [""])[0])
    return draft, op


def _landing(op: builder.Op, count: int) -> int:
    """Where the page scrolls after a question moved or went (1-based, as the page numbers)."""
    index = op.question or 0
    if op.name == "up":
        index -= 1
    elif op.name == "down":
        index += 1
    return min(max(index, 0), max(count - 1, 0)) + 1


def _added_notice(op: builder.Op) -> str:
    if op.name == builder.ADD:
        return _("Question added below. Fill it in, then save the draft.")
    return _("Option added. Fill it in, then save the draft.")


def render_builder(draft: builder.Draft, survey: SurveyRecord | None, *,
                   errors: Mapping[str, list[str]] | None = None, notice: str | None = None,
                   status: int = 200, translated: bool = False):
    errors = dict(errors or {})
    shown = console_text.draft_errors(errors, draft, translated=translated)
    body = render_template(
        "console/survey/builder.html", draft=draft,
        survey=survey_summary(survey) if survey is not None else None,
        errors=shown.by_field, summary=shown.summary, notice=notice,
        languages=LANGUAGES,
        question_types=console_text.question_types(), tab="survey")
    return body, status


# -- preview, publish, close ----------------------------------------------------------------
@staff_page("analyst")
def preview(survey_id):
    from services.survey.web.form import render_preview
    survey = load_survey(survey_id)
    try:
        definition = service.definition_of(survey, rules().definition)
    except ValidationFailed:
        abort(404)
    language = request.args.get("language")
    if language not in definition.languages:
        language = definition.default_language
    return render_preview(definition, language, note=_(
        "Preview: this is the form as the client will see it. It cannot be submitted."),
        back_url=url_for(".survey", survey_id=survey.id), back_label=_("Back to the survey"),
        note_language=current_language())


@staff_page("staff")
def publish(survey_id):
    return _lifecycle(survey_id, service.publish_survey,
                      _("Survey published: it now accepts answers and invitations."))


@staff_page("staff")
def close(survey_id):
    return _lifecycle(survey_id, service.close_survey,
                      _("Survey closed: its links no longer accept answers."))


def _lifecycle(survey_id, use_case, done: str):
    survey = load_survey(survey_id)
    version = builder.version_of(request.form.get("version", ""))
    try:
        with ctx().database.transaction() as session:
            use_case(session, survey.id, expected_version=version, now=ctx().clock(),
                     rules=rules())
    except StaleVersion:
        flash(_("Someone else changed this survey meanwhile; check it and try again."), "error")
    except ValidationFailed:
        flash(_("The survey's definition is not valid; fix it in the builder first."), "error")
    except Conflict as refused:
        flash(console_text.conflict_message(refused), "error")
    else:
        flash(done, "success")
    return redirect_back(".survey", survey_id=survey.id)
