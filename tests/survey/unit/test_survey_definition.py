from decimal import Decimal

import pytest

from services.survey.domain.definition import QuestionType, validate_survey_definition
from shared.errors import ValidationFailed
from tests.survey.unit.survey_factories import (REMOVE, localised, option, question, survey,
                                               survey_fields)


def errors_of(fields) -> dict[str, list[str]]:
    with pytest.raises(ValidationFailed) as raised:
        validate_survey_definition(fields)
    return raised.value.errors


def test_a_survey_with_every_question_type_is_accepted_with_defaults_filled_in():
    definition = survey(
        question("recommend", "nps", required=True),
        question("satisfied", "csat"),
        question("effort", "ces"),
        question("quality", "rating", scale=7, weight=2.5),
        question("channel", "single_choice", options=[option("web", score=100),
                                                      option("phone", score=40),
                                                      option("unsure")]),
        question("features", "multi_choice"),
        question("comment", "text"),
    )

    assert [q.type for q in definition.questions] == list(QuestionType)
    assert definition.default_language == "zh-CN"
    assert definition.send_after_complaint_resolved is False
    recommend, quality, channel = (definition.question(k) for k in ("recommend", "quality",
                                                                    "channel"))
    assert recommend.required is True and recommend.weight == Decimal(1)
    assert quality.weight == Decimal("2.5") and quality.scale == 7
    assert [o.score for o in channel.options] == [Decimal(100), Decimal(40), None]
    assert definition.question("features").weight is None
    assert definition.question("comment").required is False


def test_canonical_form_reads_back_to_the_same_definition():
    definition = survey(question("quality", "rating", weight=0.5),
                        question("channel", "single_choice",
                                 options=[option("1", score=12.5), option("2")]),
                        intro=localised("Thanks"), send_after_complaint_resolved=True)

    stored = definition.to_dict()

    assert validate_survey_definition(stored) == definition
    assert stored["questions"][0]["weight"] == 0.5
    assert stored["questions"][1]["options"] == [
        {"key": "1", "label": localised("Option 1"), "score": 12.5},
        {"key": "2", "label": localised("Option 2")}]


def test_texts_are_trimmed():
    definition = survey(title={"zh-CN": "  满意度调查 ", "en": " Survey\n"})
    assert definition.title == {"zh-CN": "满意度调查", "en": "Survey"}


def test_a_survey_offered_in_one_language_needs_texts_in_that_language_only():
    definition = survey(question(text={"en": "How likely…"}), languages=["en"],
                        title={"en": "Survey"})
    assert definition.languages == ("en",)


def test_the_closed_loop_flag_is_kept():
    assert survey(send_after_complaint_resolved=True).send_after_complaint_resolved is True


@pytest.mark.parametrize("fields, path", [
    (survey_fields(languages=[]), "languages"),
    (survey_fields(languages=REMOVE), "languages"),
    (survey_fields(languages="en"), "languages"),
    (survey_fields(languages=["zh-CN", "fr"]), "languages.1"),
    (survey_fields(languages=["en", "en"]), "languages.1"),
    (survey_fields(title=REMOVE), "title"),
    (survey_fields(title="Survey"), "title"),
    (survey_fields(title={"en": "Survey"}), "title.zh-CN"),
    (survey_fields(title={"zh-CN": "调查", "en": "   "}), "title.en"),
    (survey_fields(title={"zh-CN": "调查", "en": 5}), "title.en"),
    (survey_fields(title={**localised("Survey"), "fr": "Enquête"}), "title.fr"),
    (survey_fields(title={"zh-CN": "调查", "en": "x" * 201}), "title.en"),
    (survey_fields(intro={"zh-CN": "你好"}), "intro.en"),
    (survey_fields(send_after_complaint_resolved="yes"), "send_after_complaint_resolved"),
    (survey_fields(status="active"), "status"),
    (survey_fields(questions=[]), "questions"),
    (survey_fields(questions=REMOVE), "questions"),
    (survey_fields(questions={"q1": {}}), "questions"),
    (survey_fields(question(), "not a question"), "questions.1"),
    (survey_fields(question("q1"), question("q1", "csat")), "questions.1.key"),
    (survey_fields(question(key=REMOVE)), "questions.0.key"),
    (survey_fields(question("Q1")), "questions.0.key"),
    (survey_fields(question("1q")), "questions.0.key"),
    (survey_fields(question("q-1")), "questions.0.key"),
    (survey_fields(question("q" * 41)), "questions.0.key"),
    (survey_fields(question(type="slider")), "questions.0.type"),
    (survey_fields(question(type=REMOVE)), "questions.0.type"),
    (survey_fields(question(text={"zh-CN": "推荐吗？"})), "questions.0.text.en"),
    (survey_fields(question(text=REMOVE)), "questions.0.text"),
    (survey_fields(question(required="yes")), "questions.0.required"),
    (survey_fields(question(requried=True)), "questions.0.requried"),
    (survey_fields(question(weight=0)), "questions.0.weight"),
    (survey_fields(question(weight=-1)), "questions.0.weight"),
    (survey_fields(question(weight=True)), "questions.0.weight"),
    (survey_fields(question(weight="2")), "questions.0.weight"),
    (survey_fields(question(weight=101)), "questions.0.weight"),
    (survey_fields(question(weight=float("nan"))), "questions.0.weight"),
    (survey_fields(question(type="text", weight=1)), "questions.0.weight"),
    (survey_fields(question(type="multi_choice", weight=2)), "questions.0.weight"),
    (survey_fields(question(type="rating", scale=REMOVE)), "questions.0.scale"),
    (survey_fields(question(type="rating", scale=2)), "questions.0.scale"),
    (survey_fields(question(type="rating", scale=11)), "questions.0.scale"),
    (survey_fields(question(type="rating", scale=5.0)), "questions.0.scale"),
    (survey_fields(question(type="nps", scale=10)), "questions.0.scale"),
    (survey_fields(question(type="csat", options=[option("a"), option("b")])),
     "questions.0.options"),
    (survey_fields(question("q1"), question("q2", "csat"),
                   question("q3", "single_choice", options=REMOVE)), "questions.2.options"),
    (survey_fields(question(type="multi_choice", options=[option("a")])), "questions.0.options"),
    (survey_fields(question(type="single_choice", options="a,b")), "questions.0.options"),
    (survey_fields(question(type="single_choice", options=[option("a"), option("a")])),
     "questions.0.options.1.key"),
    (survey_fields(question(type="single_choice", options=[option("a"), option("B")])),
     "questions.0.options.1.key"),
    (survey_fields(question(type="single_choice",
                            options=[option("a", label={"en": "A"}), option("b")])),
     "questions.0.options.0.label.zh-CN"),
    (survey_fields(question(type="single_choice", options=[option("a", score=101), option("b")])),
     "questions.0.options.0.score"),
    (survey_fields(question(type="single_choice", options=[option("a", score=-1), option("b")])),
     "questions.0.options.0.score"),
    (survey_fields(question(type="single_choice", options=[option("a", score="9"), option("b")])),
     "questions.0.options.0.score"),
    (survey_fields(question(type="multi_choice", options=[option("a", score=50), option("b")])),
     "questions.0.options.0.score"),
    (survey_fields(question(type="single_choice", options=[option("a", colour="red"),
                                                           option("b")])),
     "questions.0.options.0.colour"),
])
def test_an_invalid_definition_names_the_offending_field(fields, path):
    assert path in errors_of(fields)


def test_boundary_values_are_accepted():
    definition = survey(question("low", "rating", scale=3), question("high", "rating", scale=10),
                        question("light", "csat", weight=0.01),
                        question("heavy", "ces", weight=100),
                        question("pick", "single_choice",
                                 options=[option("none", score=0), option("all", score=100)]),
                        question("q" * 40, "text"))
    assert [q.scale for q in definition.questions[:2]] == [3, 10]


def test_every_problem_is_reported_at_once():
    errors = errors_of(survey_fields(
        question("q1", text={"en": "Recommend?"}),
        question("q2", "rating", scale=20),
        title={"zh-CN": "调查"}))

    assert set(errors) == {"title.en", "questions.0.text.zh-CN", "questions.1.scale"}


def test_messages_say_what_is_expected():
    errors = errors_of(survey_fields(question("q1", "single_choice", options=[option("a")]),
                                     title={"zh-CN": "调查"}))

    assert errors["questions.0.options"] == ["A choice question needs at least 2 options."]
    assert errors["title.en"] == ["A text in 'en' is required."]


def test_a_definition_that_is_not_an_object_is_refused():
    assert "definition" in errors_of(["not", "an", "object"])
