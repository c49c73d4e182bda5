"""The loop bench splits each complaint's time into four stages that add up to it, from the
times the services stored (wall clock) and the bench's own (monotonic)."""
from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest

from bench.loop import _stages


def test_the_four_stages_add_up_to_the_loop():
    due = time.monotonic() - 5.0   # five seconds ago, on the bench's clock
    due_wall = datetime.fromtimestamp(time.time() - 5.0, timezone.utc)
    created = due_wall + timedelta(milliseconds=3)
    sent = created + timedelta(milliseconds=6)
    received = sent + timedelta(milliseconds=2)
    applied = due + 0.020   # 20 ms after it was due
    refs = {"CMP-000001": SimpleNamespace(due=due), "CMP-000002": SimpleNamespace(due=due)}
    outbox = [("CMP-000001", "e1", created, sent),
              ("CMP-000002", "e2", created, None)]   # not sent yet: its opening only
    stages = _stages(refs, outbox, {"e1": received}, {"CMP-000001": applied})
    assert stages["opening_ms"] == [pytest.approx(3, abs=1), pytest.approx(3, abs=1)]
    assert stages["relay_ms"] == [pytest.approx(6)]
    assert stages["bus_and_consumer_ms"] == [pytest.approx(2)]
    assert stages["apply_ms"] == [pytest.approx(9, abs=1)]
    assert sum(values[0] for values in stages.values()) == pytest.approx(20, abs=1)
