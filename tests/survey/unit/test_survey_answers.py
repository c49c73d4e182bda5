import pytest

from services.survey.domain.answers import (AnswerRules, coerce_form_answers,
                                            validate_answers)
from shared.errors import ValidationFailed
from tests.survey.unit.survey_factories import option, question, survey


def errors_of(definition, answers) -> dict[str, list[str]]:
    with pytest.raises(ValidationFailed) as raised:
        validate_answers(definition, answers)
    return raised.value.errors


INTEGER_CASES = [
    # type, scale, accepted, refused
    ("nps", None, [0, 10], [-1, 11]),
    ("csat", None, [1, 5], [0, 6]),
    ("ces", None, [1, 7], [0, 8]),
    ("rating", 4, [1, 4], [0, 5]),
    ("rating", 10, [1, 10], [0, 11]),
]


@pytest.mark.parametrize("question_type, scale, accepted, refused", INTEGER_CASES)
def test_integer_answers_must_lie_on_the_questions_scale(question_type, scale, accepted,
                                                         refused):
    extra = {"scale": scale} if scale else {}
    definition = survey(question("q1", question_type, **extra))
    for value in accepted:
        assert validate_answers(definition, {"q1": value}) == {"q1": value}
    for value in refused:
        low, high = definition.questions[0].answer_range
        assert errors_of(definition, {"q1": value}) == {
            "answers.q1": [f"Must be a whole number from {low} to {high}."]}


@pytest.mark.parametrize("value", [True, 7.0, "7", [7]])
def test_integer_answers_must_be_json_integers(value):
    assert "answers.q1" in errors_of(survey(question("q1", "nps")), {"q1": value})


def test_a_required_question_left_unanswered_is_refused():
    definition = survey(question("q1", "nps", required=True), question("q2", "text",
                                                                       required=True),
                        question("q3", "multi_choice", required=True))

    errors = errors_of(definition, {"q1": None, "q2": "   ", "q3": []})

    assert errors == {f"answers.{k}": ["This question is required."] for k in ("q1", "q2", "q3")}


def test_skipped_optional_questions_are_left_out_of_the_answers():
    definition = survey(question("q1", "nps"), question("q2", "text"), question("q3", "csat"))
    assert validate_answers(definition, {"q1": None, "q2": " ", "q3": 4}) == {"q3": 4}


def test_an_answer_to_a_question_the_survey_does_not_have_is_refused():
    errors = errors_of(survey(question("q1", "nps")), {"q1": 9, "q9": 3})
    assert errors == {"answers.q9": ["The survey has no such question."]}


def test_answers_must_be_an_object():
    assert "answers" in errors_of(survey(), ["q1", 9])


def test_text_answers_are_trimmed_and_limited_to_5000_characters():
    definition = survey(question("q1", "text"))

    assert validate_answers(definition, {"q1": "  Great support.\n"}) == {"q1": "Great support."}
    assert validate_answers(definition, {"q1": "x" * 5000}) == {"q1": "x" * 5000}
    assert errors_of(definition, {"q1": "x" * 5001}) == {
        "answers.q1": ["Must be at most 5000 characters."]}
    assert "answers.q1" in errors_of(definition, {"q1": 42})
    assert "answers.q1" in errors_of(definition, {"q1": "a\x00b"})


def test_the_text_limit_is_configurable():
    with pytest.raises(ValidationFailed):
        validate_answers(survey(question("q1", "text")), {"q1": "abcd"},
                         AnswerRules(text_max_length=3))


def test_a_single_choice_answer_is_one_known_option_key():
    definition = survey(question("q1", "single_choice"))

    assert validate_answers(definition, {"q1": "b"}) == {"q1": "b"}
    assert errors_of(definition, {"q1": "z"}) == {
        "answers.q1": ["Must be one of the options: a, b."]}
    assert "answers.q1" in errors_of(definition, {"q1": ["a"]})


def test_a_multi_choice_answer_is_a_list_of_distinct_known_keys_in_option_order():
    definition = survey(question("q1", "multi_choice",
                                 options=[option("a"), option("b"), option("c")]))

    assert validate_answers(definition, {"q1": ["c", "a"]}) == {"q1": ["a", "c"]}
    assert "answers.q1" in errors_of(definition, {"q1": ["a", "a"]})
    assert "answers.q1" in errors_of(definition, {"q1": ["a", "z"]})
    assert "answers.q1" in errors_of(definition, {"q1": "a"})
    assert "answers.q1" in errors_of(definition, {"q1": [1]})


def test_every_wrong_answer_is_reported_at_once():
    definition = survey(question("q1", "nps", required=True), question("q2", "csat"))
    assert set(errors_of(definition, {"q2": 9, "extra": 1})) == {"answers.q1", "answers.q2",
                                                                 "answers.extra"}


def test_form_fields_become_typed_answers():
    definition = survey(question("q1", "nps"), question("q2", "rating"),
                        question("q3", "single_choice"), question("q4", "multi_choice"),
                        question("q5", "text"))
    form = {"q1": ["9"], "q2": [" 4 "], "q3": ["b"], "q4": ["a", "b"], "q5": ["Fast reply"],
            "csrf_token": ["abc"], "language": ["en"]}

    answers = validate_answers(definition, coerce_form_answers(definition, form))

    assert answers == {"q1": 9, "q2": 4, "q3": "b", "q4": ["a", "b"], "q5": "Fast reply"}


def test_empty_form_fields_are_unanswered_questions():
    definition = survey(question("q1", "nps"), question("q2", "multi_choice"),
                        question("q3", "text", required=True))
    typed = coerce_form_answers(definition, {"q1": [""], "q3": ["  "]})

    assert errors_of(definition, typed) == {"answers.q3": ["This question is required."]}


@pytest.mark.parametrize("values", [["nine"], ["-1"], ["9.5"], ["9", "10"]])
def test_form_values_that_are_not_one_whole_number_are_refused(values):
    definition = survey(question("q1", "nps"))
    typed = coerce_form_answers(definition, {"q1": values})
    assert errors_of(definition, typed) == {"answers.q1": ["Must be a whole number from 0 to 10."]}


def test_a_form_value_given_as_a_plain_string_is_accepted():
    definition = survey(question("q1", "csat"))
    assert coerce_form_answers(definition, {"q1": "5"}) == {"q1": 5}
