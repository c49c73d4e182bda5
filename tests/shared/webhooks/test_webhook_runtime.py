"""Where the dispatcher runs and what the periodic jobs keep: the embedded default (a service's
workers as ``clientloop up`` starts them) delivers webhooks beside the relay, and finished
deliveries are pruned after their retention period; plus the webhook settings."""
from __future__ import annotations

import dataclasses
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import insert, select
from standardwebhooks import Webhook

from shared.config import Settings
from shared.runtime import Workers, run_jobs_once
from shared.webhooks import store
from tests.conftest import TEST_SECRET
from tests.shared.bus_helpers import register, registry_context
from tests.shared.webhooks.dispatch_helpers import receiver, wait_for

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=timezone.utc)


@pytest.fixture
def ctx(settings):
    context = registry_context(settings.with_overrides(webhooks_allow_private=True,
                                                       jobs_interval_s=3600))
    yield context
    context.database.dispose()


def test_the_services_workers_deliver_webhooks_beside_the_relay(ctx):
    with receiver() as server:
        with ctx.database.transaction() as session:
            hook = store.create_endpoint(session, ctx.tables, url=server.url,
                                         event_types=["client.*"], description="CRM",
                                         now=ctx.clock())
        workers = Workers()
        workers.start_service("registry", ctx, consumer=False, jobs=False)
        try:
            assert "registry-webhooks" in {thread.name for thread in workers.threads}
            client = register(ctx, name="Webhook Client")
            assert wait_for(lambda: len(server.requests) >= 1)
        finally:
            workers.shutdown()
        event = Webhook(hook["secret"]).verify(server.requests[0]["body"],
                                               server.requests[0]["headers"])
        assert event["type"] == "clientloop.client.registered.v1"
        assert event["subject"] == str(client.id)


def delivery(ctx, endpoint_id: str, *, status: str, last_attempt: datetime | None,
             created: datetime) -> str:
    row = store.new_delivery(endpoint_id, event_id=str(uuid.uuid4()), event_type="client.updated",
                             subject="s", body="{}", now=created)
    row.update(status=status, last_attempt_at=last_attempt)
    with ctx.database.transaction() as session:
        session.execute(insert(ctx.tables.webhook_delivery).values(**row))
    return row["id"]


def test_the_periodic_jobs_prune_finished_deliveries_past_their_retention(ctx):
    with ctx.database.transaction() as session:
        hook = store.create_endpoint(session, ctx.tables, url="https://example.com/hook",
                                     event_types=["*"], description=None, now=NOW)
    old, young = NOW - timedelta(days=31), NOW - timedelta(days=29)
    gone = {delivery(ctx, hook["id"], status="delivered", last_attempt=old, created=old),
            delivery(ctx, hook["id"], status="failed", last_attempt=old, created=old)}
    kept = {delivery(ctx, hook["id"], status="pending", last_attempt=old, created=old),
            delivery(ctx, hook["id"], status="pending", last_attempt=None, created=old),
            delivery(ctx, hook["id"], status="delivered", last_attempt=young, created=old),
            delivery(ctx, hook["id"], status="failed", last_attempt=young, created=young)}
    run_jobs_once("registry", dataclasses.replace(ctx, clock=lambda: NOW))
    table = ctx.tables.webhook_delivery
    with ctx.database.transaction() as session:
        left = set(session.execute(select(table.c.id)).scalars())
    assert left == kept and not gone & left


def test_the_webhook_settings_and_their_defaults(tmp_path):
    defaults = Settings.from_env({}, data_dir=tmp_path, secret_key=TEST_SECRET)
    assert defaults.outbox_retention_days == 35
    assert defaults.webhooks_allow_private is False and defaults.webhooks_allow_hosts is None
    assert defaults.webhooks_retry_delays == (5, 300, 1800, 7200, 18000, 36000, 36000)
    assert defaults.webhooks_timeout_s == 10 and defaults.webhooks_disable_after_days == 5
    assert defaults.webhooks_delivery_retention_days == 30
    chosen = Settings.from_env({
        "CLIENTLOOP_WEBHOOKS_ALLOW_PRIVATE": "1",
        "CLIENTLOOP_WEBHOOKS_ALLOW_HOSTS": " Hooks.Example.com, [::1] ,,127.0.0.1",
        "CLIENTLOOP_WEBHOOKS_RETRY_DELAYS": "1,2.5",
        "CLIENTLOOP_WEBHOOKS_TIMEOUT_S": "3.5",
        "CLIENTLOOP_WEBHOOKS_DISABLE_AFTER_DAYS": "2",
        "CLIENTLOOP_WEBHOOKS_RETENTION_DAYS": "7",
        "CLIENTLOOP_OUTBOX_RETENTION_DAYS": "60",
    }, data_dir=tmp_path, secret_key=TEST_SECRET)
    assert chosen.webhooks_allow_private is True
    assert chosen.webhooks_allow_hosts == ("hooks.example.com", "::1", "127.0.0.1")
    assert chosen.webhooks_retry_delays == (1.0, 2.5) and chosen.webhooks_timeout_s == 3.5
    assert chosen.webhooks_disable_after_days == 2
    assert chosen.webhooks_delivery_retention_days == 7 and chosen.outbox_retention_days == 60


@pytest.mark.parametrize("variable, value", [
    ("CLIENTLOOP_WEBHOOKS_ALLOW_PRIVATE", "maybe"),
    ("CLIENTLOOP_WEBHOOKS_TIMEOUT_S", "0"),
    ("CLIENTLOOP_WEBHOOKS_TIMEOUT_S", "soon"),
    ("CLIENTLOOP_WEBHOOKS_RETRY_DELAYS", "5,later"),
    ("CLIENTLOOP_WEBHOOKS_RETENTION_DAYS", "a month"),
])
def test_a_bad_webhook_setting_refuses_to_start_naming_it(tmp_path, variable, value):
    with pytest.raises(SystemExit, match=variable):
        Settings.from_env({variable: value}, data_dir=tmp_path, secret_key=TEST_SECRET)


def test_the_suite_only_ever_delivers_to_this_machine(settings):
    assert settings.webhooks_allow_hosts == ("127.0.0.1", "localhost", "::1")
    assert settings.webhooks_allow_private is False
