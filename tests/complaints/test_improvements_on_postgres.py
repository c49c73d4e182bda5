"""Improvement actions and the root-cause Pareto report again, on PostgreSQL (the production
database): the same test functions as on SQLite, imported here; only ``settings`` changes."""
from __future__ import annotations

import pytest

from tests.complaints.test_improvements_api import (  # noqa: F401
    test_analyst_reads_but_may_not_write, test_create_reads_back_with_location_etag_and_timeline,
    test_events_validate_against_their_schemas_in_sequence, test_every_action_from_every_status,
    test_idempotency_key_on_create, test_invalid_fields_and_unknown_query_parameters_are_422,
    test_list_is_paginated_newest_first_and_filters_by_status,
    test_patch_with_if_match_and_refused_once_done, test_stale_if_match_on_an_action_is_412,
    test_unknown_or_missing_action_is_422_and_unknown_improvement_404)
from tests.complaints.test_root_causes_report import (  # noqa: F401
    test_complaints_report_and_pareto_agree_on_normalised_root_causes,
    test_effect_over_a_complaint_history_shows_the_fall, test_pareto_shape_order_shares_and_actions)

pytestmark = pytest.mark.postgres


@pytest.fixture
def settings(settings, postgres_url):
    return settings.with_overrides(database_urls={**settings.database_urls,
                                                  "complaints": postgres_url})
