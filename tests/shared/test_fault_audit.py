"""The fault suite's bus audit (tests/faults/audit.py) counts what it claims to: lost,
duplicated and foreign events, and sequences shared, missing or out of order per subject."""
from __future__ import annotations

import uuid

from tests.faults.audit import audit_bus, sequence_audit

CLIENT_A, CLIENT_B = str(uuid.uuid4()), str(uuid.uuid4())


def envelope(subject: str, sequence: int, *, source: str = "clientloop/complaints",
             event_id: str | None = None) -> dict:
    return {"id": event_id or str(uuid.uuid4()), "source": source, "subject": subject,
            "sequence": str(sequence).zfill(20), "type": "clientloop.complaint.opened.v1"}


def test_an_orderly_run_with_a_republished_event_counts_one_duplicate_and_nothing_else():
    events = [envelope(CLIENT_A, n) for n in (1, 2, 3)] + [envelope(CLIENT_B, 1)]
    outboxes = {"complaints": {e["id"]: e for e in events}}
    tap = [events[0], events[1], events[3], events[1], events[2]]  # events[1] published twice
    audit = audit_bus(outboxes, tap)
    assert (audit.written, audit.distinct, audit.deliveries, audit.duplicates) == (4, 4, 5, 1)
    assert (audit.lost, audit.foreign) == ([], [])
    assert (audit.shared_sequences, audit.gaps, audit.out_of_order, audit.subjects) == (0, 0, 0, 2)


def test_lost_foreign_and_disordered_events_are_counted():
    events = [envelope(CLIENT_A, n) for n in (1, 2, 3, 4)]
    stranger = envelope(CLIENT_B, 1)
    outboxes = {"complaints": {e["id"]: e for e in events}}
    tap = [events[0], events[2], events[1], stranger]  # 4 never arrives, 3 before 2
    audit = audit_bus(outboxes, tap)
    assert audit.lost == [events[3]["id"]]
    assert audit.foreign == [stranger["id"]]
    assert audit.lost_types == {"clientloop.complaint.opened.v1": 1}
    assert audit.out_of_order == 1
    assert audit.disorder and CLIENT_A in audit.disorder[0]
    # written while the tap was read (a periodic job): on the bus, and neither lost nor foreign
    later = {"complaints": {**outboxes["complaints"], stranger["id"]: stranger}}
    assert audit_bus(outboxes, tap, written_by_now=later).foreign == []


def test_sequences_shared_by_two_events_and_gaps_are_violations():
    same = [envelope(CLIENT_A, 1), envelope(CLIENT_A, 1), envelope(CLIENT_A, 3)]
    shared, gaps, out_of_order, subjects = sequence_audit(same)
    assert (shared, gaps, subjects) == (1, 1, 1)
    assert out_of_order == 1  # the second 1 does not follow the first
    # the same numbers from another publisher are another stream
    other = envelope(CLIENT_A, 1, source="clientloop/registry")
    assert sequence_audit([envelope(CLIENT_A, 1), other]) == (0, 0, 0, 2)
