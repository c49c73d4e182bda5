"""The client's open complaints one by one, folded per ref from the events the registry keeps."""
from __future__ import annotations

from services.registry.domain.open_complaints import (OpenComplaint, fold_open_complaints,
                                                      open_complaint_list)


def test_opened_complaints_are_listed_most_severe_then_oldest_first(events):
    applied = [events.opened("medium", "CMP-000001", day=0),
               events.opened("critical", "CMP-000002", day=2),
               events.opened("medium", "CMP-000003", day=1),
               events.feedback(80, day=3)]

    assert open_complaint_list(applied) == [
        OpenComplaint("CMP-000002", "critical", events.at(2)),
        OpenComplaint("CMP-000001", "medium", events.at(0)),
        OpenComplaint("CMP-000003", "medium", events.at(1)),
    ]


def test_a_resolved_complaint_leaves_the_list_and_a_reopened_one_returns(events):
    applied = [events.opened("high", "CMP-000001", day=0),
               events.resolved("high", "CMP-000001", day=1),
               events.opened("low", "CMP-000002", day=1),
               events.resolved("low", "CMP-000002", day=2),
               events.reopened("low", "CMP-000002", day=3)]

    assert open_complaint_list(applied) == [OpenComplaint("CMP-000002", "low", events.at(3), True)]


def test_the_fold_follows_event_time_not_arrival_order(events):
    late_resolution = events.resolved("high", "CMP-000001", day=2)
    applied = [late_resolution, events.opened("high", "CMP-000001", day=0)]

    assert open_complaint_list(applied) == []


def test_a_reclassification_moves_the_complaint_to_its_new_severity(events):
    applied = [events.opened("low", "CMP-000001", day=0),
               events.reclassified("low", "critical", "CMP-000001", day=1),
               events.reclassified("high", "medium", "CMP-000009", day=1)]

    assert open_complaint_list(applied) == [
        OpenComplaint("CMP-000001", "critical", events.at(0)),
        OpenComplaint("CMP-000009", "medium", None),  # its opening has not arrived yet
    ]


def test_the_list_agrees_with_the_counts(events):
    applied = [events.opened("high", "CMP-000001", day=0),
               events.opened("medium", "CMP-000002", day=0),
               events.reclassified("medium", "low", "CMP-000002", day=1),
               events.resolved("high", "CMP-000001", day=2),
               events.reopened("high", "CMP-000001", day=3),
               events.opened("critical", "CMP-000003", day=4),
               events.resolved("critical", "CMP-000003", day=5)]

    listed = open_complaint_list(applied)
    counts = fold_open_complaints(applied)

    assert sorted(complaint.severity for complaint in listed) == sorted(
        severity for severity, count in counts.as_dict().items() for _ in range(count))


def test_each_open_complaint_has_its_id_and_the_latest_resolution_deadline(events):
    applied = [events.opened("low", "CMP-000001", day=0, resolve_by=events.at(10),
                             complaint_id="00000000-0000-4000-8000-000000000001"),
               events.reclassified("low", "critical", "CMP-000001", day=1,
                                   resolve_by=events.at(0, hours=8)),
               events.opened("high", "CMP-000002", day=0, resolve_by=events.at(3))]

    listed = {complaint.ref: complaint for complaint in open_complaint_list(applied)}

    assert listed["CMP-000001"].complaint_id == "00000000-0000-4000-8000-000000000001"
    assert listed["CMP-000001"].resolve_by == events.at(0, hours=8)   # the reclassification's
    assert listed["CMP-000002"].resolve_by == events.at(3)


def test_waiting_pauses_the_deadline_and_resuming_moves_it(events):
    opened = events.opened("high", "CMP-000001", day=0, resolve_by=events.at(3))
    waiting = events.waiting("CMP-000001", day=1, resolve_by=events.at(3))
    resumed = events.resumed("CMP-000001", day=2, resolve_by=events.at(4))

    [paused] = open_complaint_list([opened, waiting])
    assert paused.paused and paused.resolve_by == events.at(3)
    [running] = open_complaint_list([resumed, opened, waiting])   # in event time, not arrival
    assert not running.paused and running.resolve_by == events.at(4)


def test_a_resolved_complaint_stays_gone_and_a_reopening_starts_afresh(events):
    applied = [events.opened("high", "CMP-000001", day=0, resolve_by=events.at(3)),
               events.waiting("CMP-000001", day=1, resolve_by=events.at(3)),
               events.resumed("CMP-000001", day=2, resolve_by=events.at(4)),
               events.resolved("high", "CMP-000001", day=3),
               events.resumed("CMP-000001", day=4, resolve_by=events.at(9))]   # not open: ignored
    assert open_complaint_list(applied) == []

    [reopened] = open_complaint_list([*applied, events.reopened("high", "CMP-000001", day=5,
                                                                resolve_by=events.at(4))])
    assert (reopened.reopened, reopened.paused, reopened.resolve_by) == (True, False, events.at(4))


def test_events_without_ids_or_deadlines_leave_them_unknown(events):
    [complaint] = open_complaint_list([events.bus("complaint.opened", {
        "ref": "CMP-000001", "severity": "high", "client_id": "c-1"})])

    assert (complaint.complaint_id, complaint.resolve_by) == (None, None)
