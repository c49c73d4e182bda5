"""The survey service's integration tests again, on PostgreSQL (the production database).

The tests are the same functions as on SQLite, imported here; only ``survey_settings`` changes.
"""
from __future__ import annotations

import pytest
from sqlalchemy import text

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
    link, test_a_response_is_scored_stored_and_published_as_feedback,
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
from tests.survey.survey_support import FULL_ANSWERS

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
