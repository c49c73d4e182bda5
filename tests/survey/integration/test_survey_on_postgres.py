"""The survey service's integration tests again, on PostgreSQL (the production database).

The tests are the same functions as on SQLite, imported here; only ``survey_settings`` changes.
"""
from __future__ import annotations

import json

import pytest
from sqlalchemy import text

from services.survey import submission
from services.survey.domain.invitations import hash_token
from services.survey.service import submit_on

from tests.survey.integration.test_survey_api_invitations import (  # noqa: F401
    test_a_replayed_bulk_invitation_creates_no_link, test_a_replayed_resend_creates_no_link,
    test_an_expired_invitation_is_listed_as_expired_and_cannot_be_resent,
    test_an_idempotency_key_replay_answers_the_first_answer_without_links_and_creates_nothing,
    test_an_unknown_client_makes_the_whole_request_422_naming_it_with_retry_after,
    test_resend_issues_a_new_link_and_the_earlier_one_keeps_working,
    test_revoke_stops_every_link_and_is_refused_twice)
from tests.survey.integration.test_survey_csv_export import (  # noqa: F401
    exported, test_the_export_is_the_file_written_from_the_rules_streamed_in_constant_memory)
from tests.survey.integration.test_survey_duplicate_invitations import (  # noqa: F401
    test_a_bulk_request_with_one_open_invitation_creates_none_and_names_its_position,
    test_a_follow_up_waits_for_a_create_in_progress_then_skips_the_client,
    test_a_second_open_invitation_is_a_409_naming_the_open_one_and_creates_nothing,
    test_an_answered_revoked_or_expired_invitation_is_not_open,
    test_simultaneous_creates_for_one_client_make_exactly_one,
    test_the_follow_up_skips_a_client_who_holds_an_open_invitation_and_logs_it)
from tests.survey.integration.test_survey_events_in import (  # noqa: F401
    test_a_complaint_for_a_client_not_known_yet_is_retried,
    test_a_resolved_complaint_invites_its_client_to_the_follow_up_survey_once,
    test_erasure_scrubs_the_directory_and_free_text_but_keeps_scores,
    test_late_events_never_overwrite_newer_ones)
from tests.survey.integration.test_survey_fast_submit import (  # noqa: F401
    test_a_plain_submit_nested_too_deep_is_refused_and_stores_nothing,
    test_a_plain_submit_with_unstorable_text_is_refused_and_stores_nothing,
    test_a_survey_changed_since_the_read_writes_nothing,
    test_an_ordinary_submit_never_reaches_the_view,
    test_an_ordinary_submit_wakes_the_relay_after_its_commit,
    test_simultaneous_submits_keep_one_connection_per_thread,
    test_of_two_writes_read_before_either_only_the_first_stores_anything,
    test_the_definition_is_parsed_once_per_survey_version,
    test_the_direct_answer_is_the_views_answer, test_unusual_bodies_get_the_views_answer)
from tests.survey.integration.test_survey_form_pages import (  # noqa: F401
    opened, test_a_good_submit_redirects_to_thanks_and_the_link_then_says_answered,
    test_a_missing_required_answer_is_shown_inline_and_the_other_answers_are_kept)
from tests.survey.integration.test_survey_hostile_input import (  # noqa: F401
    test_survey_definitions_never_give_a_500)
from tests.survey.integration.test_survey_public_responses import (  # noqa: F401
    link, responses, submit, test_a_response_is_scored_stored_and_published_as_feedback,
    test_a_second_submit_is_410_answered_and_stores_nothing,
    test_answer_errors_are_422_by_dotted_path_and_store_nothing,
    test_the_database_refuses_a_second_response_for_an_invitation)
from tests.survey.integration.test_survey_response_first_answers import (  # noqa: F401
    test_a_submitted_response_keeps_the_answers_its_feedback_event_carries,
    test_the_migration_fills_in_responses_stored_before_the_columns)
from tests.survey.integration.test_survey_results_counted import (  # noqa: F401
    random_survey, test_counted_results_are_the_domains_over_every_response)
from tests.survey.integration.test_survey_results_rich import (  # noqa: F401
    rich, test_results_equal_a_plain_computation_for_every_grouping_and_period,
    test_the_data_set_exercises_what_it_claims)
from tests.survey.integration.test_survey_results import (  # noqa: F401
    data_set, shanghai, test_dates_and_months_are_those_of_the_installation_time_zone,
    test_from_and_to_are_inclusive_calendar_dates,
    test_groups_match_an_independent_computation,
    test_overall_results_match_an_independent_computation,
    test_responses_list_and_csv_export)
from tests.survey.survey_support import (FULL_ANSWERS, active_survey, invite, learn_client, outbox,
                                         token_of)

pytestmark = pytest.mark.postgres


@pytest.fixture
def survey_settings(settings, postgres_url):
    return settings.with_overrides(ratelimit_public="1000 per minute",
                                   database_urls={**settings.database_urls, "survey": postgres_url})


def test_answering_a_link_updates_its_invitation_in_place_touching_no_index(http, link,
                                                                            survey_ctx):
    """The submit's invitation update is a HOT update: ``answered_at`` is in no index and the
    page has room, so none of the table's indexes gains an entry."""
    with survey_ctx.database.engine.begin() as connection:
        indexed = connection.execute(text(
            "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
            "AND a.attnum = ANY(i.indkey) WHERE i.indrelid = 'invitation'::regclass")).scalars()
        assert "answered_at" not in set(indexed)
        options = connection.execute(text(
            "SELECT reloptions FROM pg_class WHERE oid = 'invitation'::regclass")).scalar_one()
        assert "fillfactor=85" in options
    with survey_ctx.database.engine.begin() as connection:
        stored = submit_on(connection, link["token"], FULL_ANSWERS, now=survey_ctx.clock(),
                           rules=survey_ctx.extras["rules"])
        updated, in_place = connection.execute(text(
            "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_xact_user_tables "
            "WHERE relname = 'invitation'")).one()
    assert stored is not None and (updated, in_place) == (1, 1)
    with survey_ctx.database.engine.connect() as connection:
        answered = connection.execute(text(
            "SELECT answered_at FROM invitation JOIN invitation_link "
            "ON invitation_id = invitation.id WHERE token_hash = :hash"),
            {"hash": hash_token(link["token"])}).scalar_one()
    assert answered is not None


# -- the submit to the survey a process answered last: one statement ---------------------------

NPS_ONLY = {"title": {"en": "Quick check"}, "intro": {"en": "One question."}, "languages": ["en"],
            "questions": [{"key": "score_us", "type": "nps", "required": True,
                           "text": {"en": "How likely are you to recommend us?"}}]}


def _direct_statements(survey_app, monkeypatch) -> list:
    """The statements the direct submit's driver connections run from now on, in order."""
    path = survey_app.wsgi_app
    while not hasattr(path, "_drivers"):
        path = path.app
    drivers = path._drivers.get()
    ran = []
    original = drivers.sql

    def recording(statement):
        ran.append(statement)
        return original(statement)

    monkeypatch.setattr(drivers, "sql", recording)
    return ran


def _answered_link(http, staff, survey_ctx, survey_id):
    client_id = learn_client(survey_ctx)
    item = invite(http, staff, survey_id, client_id)
    return {"client_id": client_id, "invitation": item, "token": token_of(item["url"])}


def _stored(survey_ctx, response_id):
    with survey_ctx.database.engine.connect() as connection:
        return connection.execute(text(
            "SELECT survey_id, invitation_id, client_id, language, answers::text FROM survey_response "
            "WHERE id = :id"), {"id": response_id}).one()


def test_a_submit_to_the_survey_the_process_answered_last_is_one_statement(http, staff, link,
                                                                         survey_ctx, survey_app,
                                                                         monkeypatch):
    """After a submit to a survey, the next link to it is answered by one statement that finds
    the invitation by the token itself; what it stores is what the usual two statements store."""
    assert submit(http, link["token"], FULL_ANSWERS).status_code == 201
    other = _answered_link(http, staff, survey_ctx, link["survey"]["id"])
    ran = _direct_statements(survey_app, monkeypatch)
    answer = submit(http, other["token"], FULL_ANSWERS)
    assert answer.status_code == 201, answer.get_data(as_text=True)
    assert ran == [submission.SAVE_BY_TOKEN_PG]
    survey_id, invitation_id, client_id, language, answers = _stored(survey_ctx, answer.get_json()["id"])
    assert (survey_id, invitation_id, client_id) == (link["survey"]["id"], other["invitation"]["id"],
                                                     other["client_id"])
    assert language == other["invitation"]["language"] and json.loads(answers) == FULL_ANSWERS
    usual, guessed = outbox(survey_ctx, "survey.response.submitted")
    assert guessed["subject"] == other["client_id"] and guessed["sequence"] == usual["sequence"]
    assert guessed["data"]["client_id"] == other["client_id"]
    assert guessed["data"]["invitation_id"] == other["invitation"]["id"]
    assert guessed["data"]["response_id"] == answer.get_json()["id"]
    assert list(guessed) == list(usual) and list(guessed["data"]) == list(usual["data"])
    for name in ("survey_id", "score", "nps", "nps_category", "csat", "ces", "comment"):
        assert guessed["data"][name] == usual["data"][name]
    raw = _raw_bodies(survey_ctx)
    assert submission.CLIENT_MARK not in raw and submission.INVITATION_MARK not in raw
    assert submit(http, other["token"], FULL_ANSWERS).get_json()["reason"] == "answered"


def _raw_bodies(survey_ctx) -> str:
    with survey_ctx.database.engine.connect() as connection:
        return "\n".join(connection.execute(text("SELECT body FROM outbox")).scalars())


def test_a_link_to_another_survey_is_read_and_saved_as_usual(http, staff, link, survey_ctx,
                                                             survey_app, monkeypatch):
    assert submit(http, link["token"], FULL_ANSWERS).status_code == 201
    second = active_survey(http, staff)
    theirs = _answered_link(http, staff, survey_ctx, second["id"])
    ran = _direct_statements(survey_app, monkeypatch)
    answer = submit(http, theirs["token"], FULL_ANSWERS)
    assert answer.status_code == 201 and answer.get_json()["survey_id"] == second["id"]
    # The guess wrote nothing; the link was read (and its survey's definition, new to the
    # process) and saved to its own survey.
    assert ran == [submission.SAVE_BY_TOKEN_PG, submission.LINKED, submission.DEFINITION,
                   submission.SAVE_PG]
    assert _stored(survey_ctx, answer.get_json()["id"])[:3] == (
        second["id"], theirs["invitation"]["id"], theirs["client_id"])
    events = outbox(survey_ctx, "survey.response.submitted")
    assert [(e["data"]["survey_id"], e["subject"]) for e in events] == [
        (link["survey"]["id"], link["client_id"]), (second["id"], theirs["client_id"])]
    assert responses(survey_ctx) == 2
    # The process now guesses the second survey.
    del ran[:]
    again = _answered_link(http, staff, survey_ctx, second["id"])
    assert submit(http, again["token"], FULL_ANSWERS).status_code == 201
    assert ran == [submission.SAVE_BY_TOKEN_PG]


def test_answers_the_guessed_survey_refuses_are_checked_against_the_links_own(
        http, staff, link, survey_ctx, survey_app, monkeypatch):
    assert submit(http, link["token"], FULL_ANSWERS).status_code == 201
    quick = active_survey(http, staff, **NPS_ONLY)
    theirs = _answered_link(http, staff, survey_ctx, quick["id"])
    ran = _direct_statements(survey_app, monkeypatch)
    answer = submit(http, theirs["token"], {"score_us": 10})
    assert answer.status_code == 201 and answer.get_json()["survey_id"] == quick["id"]
    assert ran == [submission.LINKED, submission.DEFINITION, submission.SAVE_PG]
    [event] = [e for e in outbox(survey_ctx, "survey.response.submitted")
               if e["data"]["survey_id"] == quick["id"]]
    assert event["data"]["nps"] == 10 and event["subject"] == theirs["client_id"]


def test_a_closed_or_unknown_link_after_a_guess_writes_nothing(http, staff, link, survey_ctx):
    assert submit(http, link["token"], FULL_ANSWERS).status_code == 201
    waiting = _answered_link(http, staff, survey_ctx, link["survey"]["id"])
    assert submit(http, "A" * 22, FULL_ANSWERS).status_code == 404
    assert http.post(f"/api/v1/surveys/{link['survey']['id']}/close", headers=staff).status_code == 200
    assert submit(http, waiting["token"], FULL_ANSWERS).get_json()["reason"] == "closed"
    assert responses(survey_ctx) == 1 and len(outbox(survey_ctx, "survey.response.submitted")) == 1


def test_answers_holding_a_marker_are_saved_as_usual_and_kept_as_given(http, staff, link,
                                                                      survey_ctx, survey_app,
                                                                      monkeypatch):
    assert submit(http, link["token"], FULL_ANSWERS).status_code == 201
    other = _answered_link(http, staff, survey_ctx, link["survey"]["id"])
    comment = f'"{submission.CLIENT_MARK}" {submission.INVITATION_MARK}'
    ran = _direct_statements(survey_app, monkeypatch)
    answer = submit(http, other["token"], {**FULL_ANSWERS, "comment": comment})
    assert answer.status_code == 201
    assert ran == [submission.LINKED, submission.SAVE_PG]
    event = outbox(survey_ctx, "survey.response.submitted")[-1]
    assert event["data"]["comment"] == comment and event["data"]["client_id"] == other["client_id"]


def test_simultaneous_submits_of_one_link_after_a_guess_store_one(http, staff, link, survey_ctx,
                                                                  survey_app):
    import threading
    from concurrent.futures import ThreadPoolExecutor

    assert submit(http, link["token"], FULL_ANSWERS).status_code == 201
    contested = _answered_link(http, staff, survey_ctx, link["survey"]["id"])
    start = threading.Barrier(6)

    def attempt(_):
        client = survey_app.test_client()
        start.wait(10)
        answer = submit(client, contested["token"], FULL_ANSWERS)
        return answer.status_code, (answer.get_json() or {}).get("reason")

    with ThreadPoolExecutor(6) as pool:
        outcomes = sorted(pool.map(attempt, range(6)), key=str)
    assert outcomes.count((201, None)) == 1 and outcomes.count((410, "answered")) == 5, outcomes
    assert responses(survey_ctx) == 2
    events = [e for e in outbox(survey_ctx, "survey.response.submitted")
              if e["subject"] == contested["client_id"]]
    assert len(events) == 1
    # The losers took no number: the client's sequence stays gapless.
    taken = [int(e["sequence"]) for e in outbox(survey_ctx) if e["subject"] == contested["client_id"]]
    assert taken == list(range(1, len(taken) + 1))


def test_a_guessed_link_whose_invitation_already_has_a_response_is_410_answered(
        http, staff, link, survey_ctx, survey_app, monkeypatch):
    """A response row written by other means while its invitation still reads open: the one
    statement meets ``UNIQUE (invitation_id)``, writes nothing, and the link is answered."""
    assert submit(http, link["token"], FULL_ANSWERS).status_code == 201
    other = _answered_link(http, staff, survey_ctx, link["survey"]["id"])
    with survey_ctx.database.engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO survey_response (id, survey_id, invitation_id, client_id, language, "
            "answers, score, scoring_version, submitted_at, nps, csat, ces) "
            "SELECT gen_random_uuid()::text, survey_id, :invitation, :client, language, answers, "
            "score, scoring_version, submitted_at, nps, csat, ces FROM survey_response"),
            {"invitation": other["invitation"]["id"], "client": other["client_id"]})
    before = len(outbox(survey_ctx))
    ran = _direct_statements(survey_app, monkeypatch)
    answer = submit(http, other["token"], FULL_ANSWERS)
    assert answer.status_code == 410 and answer.get_json()["reason"] == "answered"
    assert ran[0] is submission.SAVE_BY_TOKEN_PG
    assert responses(survey_ctx) == 2 and len(outbox(survey_ctx)) == before
