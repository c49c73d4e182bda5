import pytest

from services.survey.domain.definition import SurveyDefinition
from services.survey.domain.lifecycle import (SurveyStatus, close, ensure_can_invite,
                                              ensure_editable, publish)
from shared.errors import ActionNotAllowed, Conflict
from tests.survey.unit.survey_factories import survey


def test_a_draft_can_be_edited():
    ensure_editable("draft")


@pytest.mark.parametrize("status, allowed", [("active", ["invite", "close"]), ("closed", [])])
def test_a_published_survey_can_no_longer_be_edited(status, allowed):
    with pytest.raises(ActionNotAllowed) as refused:
        ensure_editable(status)
    assert isinstance(refused.value, Conflict)
    assert refused.value.allowed_actions == allowed


def test_publishing_a_draft_makes_it_active():
    assert publish("draft", survey()) is SurveyStatus.ACTIVE


@pytest.mark.parametrize("status", ["active", "closed"])
def test_a_survey_is_published_only_once(status):
    with pytest.raises(Conflict):
        publish(status, survey())


def test_a_survey_without_questions_cannot_be_published():
    empty = SurveyDefinition(title={"en": "Survey"}, languages=("en",), questions=())
    with pytest.raises(Conflict, match="at least one question"):
        publish("draft", empty)


def test_closing_an_active_survey_closes_it():
    assert close("active") is SurveyStatus.CLOSED


@pytest.mark.parametrize("status, allowed", [("draft", ["edit", "publish"]), ("closed", [])])
def test_only_an_active_survey_can_be_closed(status, allowed):
    with pytest.raises(ActionNotAllowed) as refused:
        close(status)
    assert refused.value.allowed_actions == allowed


def test_invitations_are_sent_for_active_surveys_only():
    ensure_can_invite("active")
    for status in ("draft", "closed"):
        with pytest.raises(Conflict):
            ensure_can_invite(status)
