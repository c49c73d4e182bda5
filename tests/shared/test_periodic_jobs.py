"""Periodic jobs run beside the consumer, not on its thread: a long job delays no event, and a
failing job is logged and runs again at the next interval."""
from __future__ import annotations

import logging
import threading
import time
import uuid

import pytest

import services.registry.app as registry_app
from shared.bus.outbox import record_event
from shared.runtime import Workers
from tests.shared.bus_helpers import registry_context, wait_for

JOB_BLOCKS_S = 8.0


@pytest.fixture
def ctx(settings):
    context = registry_context(settings.with_overrides(jobs_interval_s=0.2))
    yield context
    context.database.dispose()


def test_events_are_applied_promptly_while_a_long_job_runs(ctx, monkeypatch):
    job_started, job_release = threading.Event(), threading.Event()
    applied: dict[str, float] = {}

    def long_job(_ctx, _now):
        job_started.set()
        job_release.wait(JOB_BLOCKS_S)
        return {}

    def handlers(_ctx):
        return {"complaint.opened": lambda session, event: applied.setdefault(event.subject,
                                                                              time.monotonic())}

    monkeypatch.setattr(registry_app, "run_jobs", long_job)
    monkeypatch.setattr(registry_app, "event_handlers", handlers)
    workers = Workers()
    workers.start_service("registry", ctx)
    try:
        assert job_started.wait(10), "the periodic jobs never started"
        subjects = [str(uuid.uuid4()) for _ in range(3)]
        written_at = time.monotonic()
        for subject in subjects:
            with ctx.database.transaction() as session:
                record_event(session, ctx.tables, service="registry", event_type="complaint.opened",
                             subject=subject, data={"complaint": {"id": subject}}, time=ctx.clock())
        assert wait_for(lambda: len(applied) == len(subjects), timeout=JOB_BLOCKS_S - 2), \
            "events waited for the job"
        assert not job_release.is_set()            # the job is still running
        assert max(applied.values()) - written_at < 4.0
    finally:
        job_release.set()
        workers.shutdown()


def test_a_failing_job_is_logged_and_runs_again_at_the_next_interval(caplog):
    from shared.runtime import PeriodicJobs
    calls: list[float] = []

    def flaky():
        calls.append(time.monotonic())
        if len(calls) == 1:
            raise RuntimeError("the mail server said no")

    jobs = PeriodicJobs("registry", flaky, interval_s=0.1)
    stop = threading.Event()
    thread = threading.Thread(target=jobs.run, args=(stop,), daemon=True)
    with caplog.at_level(logging.ERROR, logger="clientloop.runtime"):
        thread.start()
        assert wait_for(lambda: len(calls) >= 3, timeout=5)
        stop.set()
        thread.join(5)
    assert not thread.is_alive()
    assert jobs.failures == 1 and jobs.passes >= 2
    assert calls[1] - calls[0] >= 0.09               # the next interval, not at once
    failures = [record for record in caplog.records if "periodic jobs failed" in record.getMessage()]
    assert len(failures) == 1 and failures[0].exc_info is not None
