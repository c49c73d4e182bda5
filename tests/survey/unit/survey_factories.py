"""Builders for survey definitions in tests: sensible defaults, any field overridable.

Pass ``REMOVE`` as an override to leave a field out.
"""
from __future__ import annotations

from typing import Any

from services.survey.domain.definition import SurveyDefinition, validate_survey_definition

LANGS = ("zh-CN", "en")
REMOVE = object()


def localised(text: str, languages: tuple[str, ...] = LANGS) -> dict[str, str]:
    return {language: f"{text} [{language}]" for language in languages}


def option(key: str, score: Any = REMOVE, **overrides: Any) -> dict[str, Any]:
    return _apply({"key": key, "label": localised(f"Option {key}"), "score": score}, overrides)


def question(key: str = "q1", type: str = "nps", **overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {"key": key, "type": type, "text": localised(f"Question {key}"),
                              "required": False}
    if type == "rating":
        fields["scale"] = 5
    if type in ("single_choice", "multi_choice"):
        fields["options"] = [option("a"), option("b")]
    return _apply(fields, overrides)


def survey_fields(*questions: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    fields = {"title": localised("Satisfaction survey"), "languages": list(LANGS),
              "questions": list(questions) or [question()]}
    return _apply(fields, overrides)


def survey(*questions: dict[str, Any], **overrides: Any) -> SurveyDefinition:
    return validate_survey_definition(survey_fields(*questions, **overrides))


def _apply(fields: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    fields = {**fields, **overrides}
    return {name: value for name, value in fields.items() if value is not REMOVE}
