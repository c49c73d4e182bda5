"""A survey definition as an OpenAPI schema, built from the domain's own rules.

The definition is validated by the domain (``validate_survey_definition``), so the API schema
takes its fields as they come; this module says in the OpenAPI document what that validation
accepts, precisely enough for a client generator or a fuzzer to build valid definitions:

* one variant per ordered list of languages (the first is the default), each requiring a text
  in exactly those languages for the title, the intro, every question and every option;
* one variant per question type, with the fields that type takes (``weight`` on scored types,
  ``scale`` on ``rating``, ``options`` on choice types, an option ``score`` on
  ``single_choice`` only), keys and lengths as the domain checks them.

What JSON Schema cannot say is in the descriptions: question keys, and option keys within a
question, must be unique.
"""
from __future__ import annotations

from itertools import permutations
from typing import Any

from services.survey.domain.definition import (CHOICE_TYPES, DEFAULT_DEFINITION_RULES,
                                               OPTION_KEY, QUESTION_KEY, SCORED_TYPES,
                                               DefinitionRules, QuestionType)
from shared.web.fields import NON_BLANK_PATTERN

JsonSchema = dict[str, Any]


def language_lists(languages: tuple[str, ...]) -> list[tuple[str, ...]]:
    """Every ordered list of distinct languages a survey may be offered in."""
    return [order for size in range(1, len(languages) + 1)
            for order in permutations(languages, size)]


def texts(languages: tuple[str, ...], max_length: int, *, every: bool = True) -> JsonSchema:
    """``{"zh-CN": "…", "en": "…"}``: a non-blank text per language (each one, when ``every``)."""
    schema: JsonSchema = {
        "type": "object", "additionalProperties": False,
        "properties": {language: {"type": "string", "minLength": 1, "maxLength": max_length,
                                  "pattern": NON_BLANK_PATTERN} for language in languages}}
    if every:
        schema["required"] = list(languages)
    else:
        schema["minProperties"] = 1
    return schema


def question(question_type: QuestionType, languages: tuple[str, ...], rules: DefinitionRules,
             *, every: bool = True) -> JsonSchema:
    properties: JsonSchema = {
        "key": {"type": "string", "pattern": f"^{QUESTION_KEY.pattern}$",
                "description": "Unique within the survey."},
        "type": {"type": "string", "enum": [question_type.value]},
        "text": texts(languages, rules.question_text_max_length, every=every),
        "required": {"type": "boolean", "nullable": True, "default": False},
    }
    required = ["key", "type", "text"]
    if question_type in SCORED_TYPES:
        properties["weight"] = {"type": "number", "minimum": 0, "exclusiveMinimum": True,
                                "maximum": float(rules.max_weight), "nullable": True,
                                "default": 1}
    if question_type is QuestionType.RATING:
        properties["scale"] = {"type": "integer", "minimum": rules.min_rating_scale,
                               "maximum": rules.max_rating_scale,
                               "description": "Answers run from 1 to scale."}
        required.append("scale")
    if question_type in CHOICE_TYPES:
        properties["options"] = {"type": "array", "minItems": 2, "maxItems": rules.max_options,
                                 "items": option(question_type, languages, rules, every=every),
                                 "description": "Option keys are unique within the question."}
        required.append("options")
    return {"type": "object", "title": question_type.value, "properties": properties,
            "required": required, "additionalProperties": False}


def option(question_type: QuestionType, languages: tuple[str, ...], rules: DefinitionRules,
           *, every: bool = True) -> JsonSchema:
    properties: JsonSchema = {
        "key": {"type": "string", "pattern": f"^{OPTION_KEY.pattern}$"},
        "label": texts(languages, rules.option_label_max_length, every=every),
    }
    if question_type is QuestionType.SINGLE_CHOICE:
        properties["score"] = {"type": "number", "minimum": 0,
                               "maximum": float(rules.max_option_score), "nullable": True}
    return {"type": "object", "properties": properties, "required": ["key", "label"],
            "additionalProperties": False}


def questions(languages: tuple[str, ...], rules: DefinitionRules, *,
              every: bool = True) -> JsonSchema:
    return {"type": "array", "minItems": 1, "maxItems": rules.max_questions,
            "description": "The questions, in order; their keys are unique.",
            "items": {"oneOf": [question(question_type, languages, rules, every=every)
                                for question_type in QuestionType]}}


def definition(languages: tuple[str, ...], rules: DefinitionRules) -> JsonSchema:
    """A whole definition offered in ``languages`` (in that order)."""
    return {
        "type": "object", "title": f"Offered in {', '.join(languages)}",
        "properties": {
            "title": texts(languages, rules.title_max_length),
            "intro": {**texts(languages, rules.intro_max_length), "nullable": True},
            "languages": {"type": "array", "items": {"type": "string",
                                                     "enum": list(rules.languages)},
                          "enum": [list(languages)],
                          "description": "The languages offered; the first is the default."},
            "questions": questions(languages, rules),
            "send_after_complaint_resolved": {
                "type": "boolean", "nullable": True, "default": False,
                "description": "Invite a complaint's client when it is resolved."},
        },
        "required": ["title", "languages", "questions"], "additionalProperties": False,
    }


def definition_schema(rules: DefinitionRules = DEFAULT_DEFINITION_RULES) -> JsonSchema:
    """A new survey: one variant per ordered list of languages."""
    return {"oneOf": [definition(order, rules) for order in language_lists(rules.languages)],
            "description": "A survey definition. Every text is given once per offered "
                           "language, and in no other."}


def changes_schema(rules: DefinitionRules = DEFAULT_DEFINITION_RULES) -> JsonSchema:
    """A draft's changes: any of the fields, checked with the stored ones as a whole."""
    every = rules.languages
    whole = definition(every, rules)["properties"]
    return {
        "type": "object", "additionalProperties": False,
        "description": "The fields given replace the stored ones (null removes intro); the "
                       "result must be a valid definition, texts in exactly its languages.",
        "properties": {
            "title": texts(every, rules.title_max_length, every=False),
            "intro": {**texts(every, rules.intro_max_length, every=False), "nullable": True},
            "languages": {"type": "array", "minItems": 1, "maxItems": len(every),
                          "uniqueItems": True, "items": {"type": "string", "enum": list(every)},
                          "description": whole["languages"]["description"]},
            "questions": questions(every, rules, every=False),
            "send_after_complaint_resolved": whole["send_after_complaint_resolved"],
        },
    }
