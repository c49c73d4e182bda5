"""The tunable constants come from CLIENTLOOP_* variables and move the records."""
from __future__ import annotations

from decimal import Decimal

import pytest

from services.registry.app import build_context
from services.registry.rules import rules_from_env
from shared.config import Settings
from shared.migrations import upgrade
from tests.conftest import TEST_SECRET
from tests.registry.conftest import deliver, register
from tests.registry.integration.test_registry_records_service import client_row, ledger_of
from tests.registry.registry_events import BusEvents


@pytest.fixture
def tuned_ctx(tmp_path, clock):
    env = {"CLIENTLOOP_SATISFACTION_PENALTIES": "high=12",
           "CLIENTLOOP_SATISFACTION_RESOLVED_FACTORS": "within_sla=0.25",
           "CLIENTLOOP_VALUE_TIERS": "A=2000000,B=50000",
           "CLIENTLOOP_HEALTH_BANDS": "healthy=80"}
    settings = Settings.from_env(env, data_dir=tmp_path / "tuned", secret_key=TEST_SECRET)
    upgrade("registry", settings.database_url("registry"))
    ctx = build_context(settings, clock=clock)
    yield ctx
    ctx.database.dispose()


def test_configured_penalty_factor_tiers_and_bands_drive_the_records(tuned_ctx, clock):
    bus = BusEvents(clock.now)
    client = register(tuned_ctx, annual_value={"amount": "60000.00", "currency": "CNY"})
    assert client.tier == "B"  # B from 50,000 here, not 100,000
    opened = bus.opened(client.id, "high", ref="CMP-000007")
    resolved = bus.resolved(client.id, "high", ref="CMP-000007", within_sla=True,
                            at=clock.now.replace(microsecond=1))
    deliver(tuned_ctx, opened, resolved)
    ledger = ledger_of(tuned_ctx, client.id)
    assert [(entry[1], entry[2]) for entry in ledger] == [("-12.00", "58.00"), ("3.00", "61.00")]
    row = client_row(tuned_ctx, client.id)
    # S 61, C = 100 − 5 (one complaint in 90 days) = 95 → 0.6 × 61 + 0.4 × 95 = 74.6 < 80
    assert (float(row.health_score), row.health_band) == (74.6, "at_risk")


def test_defaults_are_the_spec_numbers_without_variables():
    satisfaction, value = rules_from_env({})
    assert dict(satisfaction.penalties) == {"low": 2, "medium": 5, "high": 10, "critical": 20}
    assert (satisfaction.baseline, satisfaction.feedback_weight) == (70, Decimal("0.3"))
    assert (value.tier_a, value.tier_b, value.window_days) == (1_000_000, 100_000, 90)
    assert (value.healthy_from, value.at_risk_from) == (70, 40)


@pytest.mark.parametrize("env", [
    {"CLIENTLOOP_SATISFACTION_PENALTIES": "severe=3"},
    {"CLIENTLOOP_SATISFACTION_PENALTIES": "high=ten"},
    {"CLIENTLOOP_VALUE_TIERS": "A=100,B=1000"},
    {"CLIENTLOOP_VALUE_WINDOW_DAYS": "0"},
    {"CLIENTLOOP_SATISFACTION_FEEDBACK_WEIGHT": "-1"},
])
def test_a_bad_value_stops_the_service_with_a_message_naming_the_variable(env, tmp_path):
    settings = Settings.from_env(env, data_dir=tmp_path, secret_key=TEST_SECRET)
    with pytest.raises(SystemExit) as stopped:
        build_context(settings)
    assert "CLIENTLOOP_" in str(stopped.value) or "tier" in str(stopped.value)
