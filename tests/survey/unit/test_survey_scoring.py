from decimal import Decimal
from fractions import Fraction

import pytest

from services.survey.domain.rounding import percentage, round_half_up
from services.survey.domain.scoring import (FeedbackRules, feedback_fields, nps_category,
                                            normalise, score_response)
from tests.survey.unit.survey_factories import option, question, survey

CHOICES = [option("great", score=100), option("ok", score=62.5), option("unsure")]


@pytest.mark.parametrize("fields, answer, expected", [
    (question(type="nps"), 0, Fraction(0)),
    (question(type="nps"), 7, Fraction(70)),
    (question(type="nps"), 10, Fraction(100)),
    (question(type="csat"), 1, Fraction(0)),
    (question(type="csat"), 4, Fraction(75)),
    (question(type="csat"), 5, Fraction(100)),
    (question(type="ces"), 1, Fraction(0)),
    (question(type="ces"), 3, Fraction(100, 3)),
    (question(type="ces"), 7, Fraction(100)),
    (question(type="rating", scale=5), 4, Fraction(75)),
    (question(type="rating", scale=3), 2, Fraction(50)),
    (question(type="rating", scale=10), 1, Fraction(0)),
    (question(type="rating", scale=10), 4, Fraction(100, 3)),
    (question(type="single_choice", options=CHOICES), "great", Fraction(100)),
    (question(type="single_choice", options=CHOICES), "ok", Fraction(125, 2)),
    (question(type="single_choice", options=CHOICES), "unsure", None),
    (question(type="multi_choice"), ["a", "b"], None),
    (question(type="text"), "Good service", None),
    (question(type="nps"), None, None),
])
def test_each_answer_is_normalised_as_the_specification_says(fields, answer, expected):
    assert normalise(survey(fields).questions[0], answer) == expected


def test_the_score_is_the_weighted_mean_of_normalised_answers():
    definition = survey(question("q1", "nps", weight=3), question("q2", "csat"),
                        question("q3", "rating", scale=5, weight=0.5))
    # (3 × 100 + 1 × 0 + 0.5 × 50) / 4.5 = 325 / 4.5 = 72.222…
    assert score_response(definition, {"q1": 10, "q2": 1, "q3": 3}) == Decimal("72.22")


def test_a_skipped_optional_question_weighs_nothing():
    definition = survey(question("q1", "nps"), question("q2", "csat", weight=5))
    assert score_response(definition, {"q1": 8}) == Decimal("80.00")


def test_choice_questions_count_only_when_the_chosen_option_has_a_score():
    definition = survey(question("q1", "nps"), question("q2", "single_choice", options=CHOICES),
                        question("q3", "multi_choice"), question("q4", "text"))
    answers = {"q1": 6, "q2": "unsure", "q3": ["a"], "q4": "Slow delivery"}
    assert score_response(definition, answers) == Decimal("60.00")
    assert score_response(definition, {**answers, "q2": "great"}) == Decimal("80.00")


@pytest.mark.parametrize("answers", [{}, {"q2": "Nothing to add"}, {"q3": ["a", "b"]}])
def test_a_response_with_no_scored_answer_has_no_score(answers):
    definition = survey(question("q1", "nps"), question("q2", "text"),
                        question("q3", "multi_choice"))
    assert score_response(definition, answers) is None


def test_the_score_is_rounded_half_up_once_at_the_end():
    definition = survey(question("q1", "single_choice",
                                 options=[option("a", score=0.01), option("b", score=0)]),
                        question("q2", "single_choice",
                                 options=[option("a", score=0.01), option("b", score=0)]))
    # mean of 0.01 and 0 is exactly 0.005: half-up gives 0.01 where banker's rounding gives 0.00
    assert score_response(definition, {"q1": "a", "q2": "b"}) == Decimal("0.01")
    # 1/6 × 100 = 16.666…
    assert score_response(survey(question("q1", "ces")), {"q1": 2}) == Decimal("16.67")


def test_a_kept_score_is_the_score_computed_afresh_for_every_combination_of_answers():
    questions = [question("q1", "nps", weight=3), question("q2", "csat"),
                 question("q3", "ces", weight=0.5), question("q4", "text"),
                 question("q5", "single_choice", options=CHOICES)]
    definition, fresh = survey(*questions), survey(*questions)   # fresh: never scored through
    combinations = [{"q1": nps, "q2": csat, "q3": ces, "q4": "text", "q5": choice}
                    for nps in (None, 0, 6, 10) for csat in (None, 1, 3, 5)
                    for ces in (None, 1, 2, 7) for choice in (None, "great", "ok", "unsure")]
    for places in (2, 0):
        for answers in combinations + combinations:   # the second time from what was kept
            expected = _score_afresh(fresh, answers, places)
            assert score_response(definition, answers, places) == expected, answers


def _score_afresh(definition, answers, places):
    """The score by the rules written out once more: no memo, a definition used once."""
    parts = [(q.weight, normalise(q, answers.get(q.key))) for q in definition.questions]
    parts = [(Fraction(weight), value) for weight, value in parts if value is not None]
    if not parts:
        return None
    return round_half_up(sum(w * v for w, v in parts) / sum(w for w, _ in parts), places)


def test_an_answer_that_cannot_be_kept_is_scored_and_what_is_kept_stays_bounded(monkeypatch):
    from services.survey.domain import scoring
    definition = survey(question("q1", "single_choice", options=CHOICES))
    assert score_response(definition, {"q1": ["great"]}) is None   # unhashable: scored afresh
    monkeypatch.setattr(scoring, "MEMO_SIZE", 3)
    rating = survey(question("q1", "rating", scale=10))
    for answer in range(1, 11):
        assert score_response(rating, {"q1": answer}) == round_half_up(
            Fraction(answer - 1, 9) * 100, 2)
    assert len(rating.memo) == 3


@pytest.mark.parametrize("value, category", [
    (0, "detractor"), (6, "detractor"), (7, "passive"), (8, "passive"), (9, "promoter"),
    (10, "promoter"), (None, None)])
def test_nps_answers_fall_into_the_usual_categories(value, category):
    assert nps_category(value) == category


def test_nps_bands_are_configurable():
    assert nps_category(8, FeedbackRules(promoter_min=8)) == "promoter"


def test_feedback_carries_the_raw_answers_to_the_first_question_of_each_type():
    definition = survey(question("intro", "text"), question("nps1", "nps"),
                        question("nps2", "nps"), question("csat1", "csat"),
                        question("ces1", "ces"), question("ces2", "ces"),
                        question("why", "text"))
    answers = {"nps1": 9, "nps2": 3, "csat1": 2, "ces2": 6, "why": "Quick answers"}

    assert feedback_fields(definition, answers) == {
        "nps": 9, "nps_category": "promoter", "csat": 2,
        "ces": None,              # the first CES question was skipped
        "comment": "Quick answers",  # the first text question was skipped
    }


def test_feedback_of_a_survey_without_those_question_types_is_all_null():
    definition = survey(question("q1", "rating"))
    assert feedback_fields(definition, {"q1": 3}) == {
        "nps": None, "nps_category": None, "csat": None, "ces": None, "comment": None}


def test_half_up_rounding_rounds_halves_away_from_zero():
    assert round_half_up(Fraction(1, 8)) == Decimal("0.13")
    assert round_half_up(Fraction(-1, 8)) == Decimal("-0.13")
    assert round_half_up(Decimal("2.675")) == Decimal("2.68")
    assert percentage(1, 3) == Decimal("33.33")
    assert percentage(0, 0) is None
