"""The survey form a client opens from their link: ``GET``/``POST /s/{token}``.

Server-rendered, works without JavaScript, in the invitation's language. A submit with errors
shows the form again (422) with every error next to its question and in a summary at the top,
keeping what was typed. A good submit answers the invitation and redirects (303) to
``/s/{token}/thanks`` so reloading never submits twice. Unknown links are a 404 page; used,
revoked, expired or closed ones a 410 page; neither says anything about the client.

HTML forms send strings; ``coerce_form_answers`` types them and ``validate_answers`` (the same
rules as the JSON endpoint) checks them. HTML ``required`` attributes are not used: the
browser's own bubbles would replace the page's accessible, translated errors.
"""
from __future__ import annotations

from typing import Any, Mapping

from flask import Blueprint, current_app, redirect, request, url_for

from services.survey import service
from services.survey.domain.answers import REQUIRED_ANSWER, coerce_form_answers
from services.survey.domain.definition import Question, QuestionType, SurveyDefinition
from services.survey.domain.invitations import LinkState, LinkUnavailable
from services.survey.web.pages import (FORM_TOKEN_FIELD, form_token, form_token_valid,
                                       gone_page, not_found_page, page)
from services.survey.web.texts import texts_for
from shared.errors import ValidationFailed

bp = Blueprint("survey_form", __name__, template_folder="templates")
assets = Blueprint("survey_assets", __name__, static_folder="static",
                   static_url_path="/static/survey")


def _ctx():
    return current_app.extensions["clientloop"]


def _rules() -> service.SurveyRules:
    return _ctx().extras["rules"]


def _open(token: str) -> service.OpenedLink:
    with _ctx().database.transaction() as session:
        return service.open_link(session, token, rules=_rules())


def _answerable(token: str):
    """``(link, None)`` when the link can be answered, else ``(None, the page saying why)``."""
    try:
        link = _open(token)
    except service.LinkNotFound:
        return None, not_found_page()
    state = link.state(_ctx().clock())
    if state is not LinkState.OPEN:
        return None, gone_page(state.value, link.invitation.language)
    return link, None


@bp.get("/s/<token>")
def show(token: str):
    link, refusal = _answerable(token)
    if refusal is not None:
        return refusal
    return render_form(link, token)


@bp.post("/s/<token>")
def submit(token: str):
    link, refusal = _answerable(token)
    if refusal is not None:
        return refusal
    form = request.form.to_dict(flat=False)
    if not form_token_valid(token, request.form.get(FORM_TOKEN_FIELD)):
        return render_form(link, token, values=form, notice="error_form_expired", status=400)
    answers = coerce_form_answers(link.definition, form)
    try:
        with _ctx().database.transaction() as session:
            service.submit_response(session, token, answers, now=_ctx().clock(), rules=_rules())
    except service.LinkNotFound:
        return not_found_page()
    except LinkUnavailable as gone:
        return gone_page(gone.reason, link.invitation.language)
    except ValidationFailed as invalid:
        errors = question_errors(link.definition, answers, invalid.errors,
                                 link.invitation.language, _rules().answers.text_max_length)
        return render_form(link, token, values=form, errors=errors, status=422)
    return redirect(url_for(".thanks", token=token), 303)


@bp.get("/s/<token>/thanks")
def thanks(token: str):
    try:
        link = _open(token)
    except service.LinkNotFound:
        return not_found_page()
    state = link.state(_ctx().clock())
    if state is LinkState.OPEN:
        return redirect(url_for(".show", token=token), 303)
    if state is not LinkState.ANSWERED:
        return gone_page(state.value, link.invitation.language)
    language = link.invitation.language
    return page("survey/thanks.html", language=language,
                survey_title=link.definition.title.get(language))


def render_form(link: service.OpenedLink, token: str, *, values: Mapping[str, list] | None = None,
                errors: Mapping[str, str] | None = None, notice: str | None = None,
                status: int = 200):
    language = link.invitation.language
    definition = link.definition
    return page("survey/form.html", status, language=language,
                survey=_localised(definition, language), values=values or {},
                errors=errors or {}, notice=notice, form_field=FORM_TOKEN_FIELD,
                form_token=form_token(token),
                text_max_length=_rules().answers.text_max_length)


def render_preview(definition: SurveyDefinition, language: str, *, note: str, back_url: str,
                   back_label: str, note_language: str):
    """The form as a client sees it in ``language``, for staff: no link, no answers, and a
    submit button that does nothing (``preview`` adds a note and a way back)."""
    return page("survey/form.html", language=language, survey=_localised(definition, language),
                values={}, errors={}, notice=None, form_field=FORM_TOKEN_FIELD, form_token="",
                text_max_length=_rules().answers.text_max_length,
                preview={"note": note, "back_url": back_url, "back_label": back_label,
                         "lang": note_language})


def _localised(definition: SurveyDefinition, language: str) -> dict[str, Any]:
    """The survey in one language, shaped for the template."""
    def text(texts: Mapping[str, str] | None) -> str | None:
        if not texts:
            return None
        return texts.get(language) or texts.get(definition.default_language)

    return {
        "title": text(definition.title),
        "intro": text(definition.intro),
        "questions": [{
            "key": question.key, "type": question.type.value, "text": text(question.text),
            "required": question.required,
            "choices": _choices(question, text),
        } for question in definition.questions],
    }


def _choices(question: Question, text) -> list[dict[str, str]]:
    if question.options:
        return [{"value": option.key, "label": text(option.label)} for option in question.options]
    if question.answer_range is None:
        return []
    low, high = question.answer_range
    return [{"value": str(value), "label": str(value)} for value in range(low, high + 1)]


def question_errors(definition: SurveyDefinition, answers: Mapping[str, Any],
                    messages: Mapping[str, list[str]], language: str,
                    text_max_length: int) -> dict[str, str]:
    """The domain's errors (``answers.<key>``) as one translated message per question."""
    t = texts_for(language)
    shown: dict[str, str] = {}
    for question in definition.questions:
        found = messages.get(f"answers.{question.key}")
        if not found:
            continue
        if REQUIRED_ANSWER in found:
            shown[question.key] = t["error_required"]
        elif question.answer_range is not None:
            low, high = question.answer_range
            shown[question.key] = t["error_range"].format(low=low, high=high)
        elif question.type is QuestionType.SINGLE_CHOICE:
            shown[question.key] = t["error_single"]
        elif question.type is QuestionType.MULTI_CHOICE:
            shown[question.key] = t["error_multi"]
        else:
            answer = answers.get(question.key)
            too_long = isinstance(answer, str) and len(answer.strip()) > text_max_length
            shown[question.key] = (t["error_text_long"].format(max=text_max_length) if too_long
                                   else t["error_text"])
    return shown
