"""Problems name things as the API does: an invitation has a ``state`` (a survey, a complaint
have a ``status``), and a 409 about one says so."""
from __future__ import annotations

from tests.survey.survey_support import active_survey, invite, learn_client


def test_a_409_on_an_invitation_names_its_state(http, staff, survey_ctx):
    survey = active_survey(http, staff)
    invitation = invite(http, staff, survey["id"], learn_client(survey_ctx))
    revoked = http.post(f"/api/v1/invitations/{invitation['id']}/revoke", headers=staff)
    assert revoked.status_code == 200 and revoked.get_json()["state"] == "revoked"
    again = http.post(f"/api/v1/invitations/{invitation['id']}/resend", headers=staff)
    assert again.status_code == 409
    problem = again.get_json()
    assert problem["detail"] == "Action 'resend' is not allowed while the state is 'revoked'."
    assert problem["allowed_actions"] == []


def test_a_409_on_a_survey_names_its_status(http, staff):
    survey = active_survey(http, staff)
    again = http.post(f"/api/v1/surveys/{survey['id']}/publish", headers=staff)
    assert again.status_code == 409
    assert again.get_json()["detail"] == ("Action 'publish' is not allowed while the status is "
                                          "'active'.")
