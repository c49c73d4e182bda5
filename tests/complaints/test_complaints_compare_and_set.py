"""The compare-and-set write: a complaint changed between read and write is never overwritten."""
from __future__ import annotations

import pytest
from sqlalchemy import update

from services.complaints import service
from services.complaints.adapters import repository
from services.complaints.adapters.repository import COMPLAINTS
from shared.errors import StaleVersion


def bump(session, complaint_id: str) -> None:
    """What another writer's committed change looks like to this transaction."""
    session.execute(update(COMPLAINTS).where(COMPLAINTS.c.id == complaint_id)
                    .values(version=COMPLAINTS.c.version + 1, assignee="Someone else"))


def test_a_write_on_a_stale_version_matches_nothing(api, complaints_ctx):
    complaint_id = api.opened()["id"]
    with complaints_ctx.database.transaction() as session:
        complaint = repository.load_complaint(session, complaint_id)
        bump(session, complaint_id)
        complaint.act("acknowledge", {}, "ann", api.clock.now)

        saved = repository.save_complaint(session, complaint, loaded_version=1,
                                          new_entries=complaint.timeline)

    assert saved is False
    body = api.read(complaint_id)
    assert (body["status"], body["assignee"], len(body["timeline"])) == ("new", "Someone else", 1)


def test_a_lost_race_without_if_match_is_retried_on_the_fresh_row(api, complaints_ctx):
    complaint_id = api.opened()["id"]
    calls = []

    def acknowledge(complaint):
        if not calls:
            bump(session, complaint_id)          # another writer gets in between
        calls.append(complaint.version)
        return complaint.act("acknowledge", {}, "ann", api.clock.now)

    with complaints_ctx.database.transaction() as session:
        changed = service.change_complaint(session, complaint_id, acknowledge,
                                           expected_version=None)

    assert calls == [1, 2]
    body = api.read(complaint_id)
    assert (body["status"], body["assignee"], body["version"]) == ("acknowledged",
                                                                  "Someone else", 3)
    assert changed.complaint.version == 3


def test_a_lost_race_with_if_match_is_412(api, complaints_ctx):
    complaint_id = api.opened()["id"]

    def acknowledge(complaint):
        bump(session, complaint_id)
        return complaint.act("acknowledge", {}, "ann", api.clock.now)

    with pytest.raises(StaleVersion):
        with complaints_ctx.database.transaction() as session:
            service.change_complaint(session, complaint_id, acknowledge, expected_version=1)

    assert api.read(complaint_id)["status"] == "new"
