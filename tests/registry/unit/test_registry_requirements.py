"""The requirement workflow and change-request rules, without a database."""
from __future__ import annotations

from datetime import date

import pytest

from services.registry.domain import requirements as domain
from shared.errors import ActionNotAllowed, ValidationFailed

TODAY = date(2026, 3, 10)


def test_allowed_actions_follow_the_table_in_its_order():
    assert domain.allowed_actions("proposed") == ["analyse", "reject", "withdraw"]
    assert domain.allowed_actions("analysed") == ["approve", "reject", "withdraw"]
    assert domain.allowed_actions("approved") == ["start", "withdraw"]
    assert domain.allowed_actions("in_progress") == ["deliver", "withdraw"]
    assert domain.allowed_actions("delivered") == ["accept", "refuse"]
    for final in ("accepted", "rejected", "withdrawn"):
        assert domain.allowed_actions(final) == []


def test_a_refused_action_carries_the_allowed_list_and_an_unknown_one_is_invalid():
    assert domain.check_action("refuse", "delivered") == "in_progress"
    with pytest.raises(ActionNotAllowed) as refused:
        domain.check_action("accept", "in_progress")
    assert refused.value.allowed_actions == ["deliver", "withdraw"]
    with pytest.raises(ValidationFailed) as unknown:
        domain.check_action("teleport", "proposed")
    assert list(unknown.value.errors) == ["action"]


@pytest.mark.parametrize("status, due_on, overdue", [
    ("proposed", date(2026, 3, 9), True), ("in_progress", date(2026, 3, 9), True),
    ("proposed", TODAY, False), ("proposed", None, False),
    ("delivered", date(2026, 1, 1), False), ("accepted", date(2026, 1, 1), False),
    ("rejected", date(2026, 1, 1), False), ("withdrawn", date(2026, 1, 1), False)])
def test_overdue_means_the_due_date_passed_and_not_done(status, due_on, overdue):
    assert domain.is_overdue(status, due_on, TODAY) is overdue


def test_reasons_and_notes_where_the_action_needs_them():
    with pytest.raises(ValidationFailed) as missing:
        domain.validate_action_fields("refuse", {"reason": "  "})
    assert list(missing.value.errors) == ["reason"]
    with pytest.raises(ValidationFailed):
        domain.validate_action_fields("deliver", {})
    with pytest.raises(ValidationFailed):
        domain.validate_action_fields("analyse", {"reason": "why not"})
    domain.validate_action_fields("analyse", {"note": "Looked at it with the client."})


def test_a_change_request_proposes_baselined_fields_only():
    domain.validate_proposed({"due_on": date(2026, 6, 1), "priority": "must"})
    for proposed, path in [({}, "proposed"), ({"owner": "x"}, "proposed.owner"),
                           ({"title": " "}, "proposed.title"),
                           ({"acceptance_criteria": ["ok", ""]}, "proposed.acceptance_criteria.1")]:
        with pytest.raises(ValidationFailed) as refused:
            domain.validate_proposed(proposed)
        assert path in refused.value.errors


def test_stale_fields_are_those_that_moved_since_submission():
    base = {"due_on": "2026-06-01", "priority": "should"}
    assert domain.stale_fields(base, {"due_on": "2026-06-01", "priority": "should"}) == []
    assert domain.stale_fields(base, {"due_on": "2026-07-01", "priority": "should"}) == ["due_on"]
