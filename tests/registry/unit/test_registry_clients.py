"""kinds and categories, the power/interest grid, engagement, money."""
from __future__ import annotations

from decimal import Decimal

import pytest

from services.registry.domain.clients import (KINDS, ClientRules, Money, engagement_gap,
                                              engagement_strategy, validate_client_fields)
from shared.errors import ValidationFailed


def client_fields(**overrides):
    fields = {"name": "Shenzhen Metro", "kind": "external", "category": "enterprise",
              "preferred_language": "zh-CN", "power": 3, "interest": 4,
              "engagement_current": "neutral", "engagement_desired": "supportive",
              "annual_value": {"amount": "125000.00", "currency": "CNY"}}
    fields.update(overrides)
    return fields


def errors_of(fields, rules=ClientRules()):
    with pytest.raises(ValidationFailed) as failed:
        validate_client_fields(fields, rules)
    return failed.value.errors


def test_kinds_and_their_categories_follow_the_project_view_of_clients():
    assert dict(KINDS) == {
        "internal": ("stakeholder", "team_member", "department"),
        "external": ("enterprise", "individual", "government"),
        "potential": ("prospect", "segment"),
        "end_user": ("end_user",),
    }


def test_valid_client_passes():
    validate_client_fields(client_fields())


@pytest.mark.parametrize("kind, category", [
    (kind, category) for kind, categories in KINDS.items() for category in categories])
def test_every_category_is_valid_with_its_own_kind(kind, category):
    validate_client_fields(client_fields(kind=kind, category=category))


def test_category_of_another_kind_is_an_error_on_category():
    errors = errors_of(client_fields(kind="internal", category="enterprise"))

    assert list(errors) == ["category"]
    assert "stakeholder, team_member, department" in errors["category"][0]


def test_unknown_kind_is_an_error_on_kind():
    assert list(errors_of(client_fields(kind="partner"))) == ["kind"]


@pytest.mark.parametrize("value", [0, 6, 2.5, "3", True])
def test_power_and_interest_are_whole_numbers_from_1_to_5(value):
    assert set(errors_of(client_fields(power=value, interest=value))) == {"power", "interest"}


def test_power_and_interest_may_be_unknown():
    validate_client_fields(client_fields(power=None, interest=None))


def test_unknown_language_and_engagement_levels_are_reported_together():
    errors = errors_of(client_fields(preferred_language="fr", engagement_current="hostile",
                                     engagement_desired="champion"))

    assert set(errors) == {"preferred_language", "engagement_current", "engagement_desired"}


def test_fields_absent_from_a_partial_set_are_not_checked():
    validate_client_fields({"power": 5})


@pytest.mark.parametrize("power, interest, strategy", [
    (4, 4, "manage_closely"), (5, 5, "manage_closely"), (4, 3, "keep_satisfied"),
    (3, 4, "keep_informed"), (3, 3, "monitor"), (1, 1, "monitor"),
    (None, 5, None), (5, None, None)])
def test_engagement_strategy_from_the_power_interest_grid(power, interest, strategy):
    assert engagement_strategy(power, interest) == strategy


def test_engagement_gap_counts_levels_to_move():
    assert engagement_gap("resistant", "supportive") == 2
    assert engagement_gap("leading", "neutral") == -2
    assert engagement_gap("neutral", "neutral") == 0
    assert engagement_gap(None, "leading") is None
    assert engagement_gap("unaware", None) is None


# --- money ---------------------------------------------------------------------------------

def test_money_is_parsed_from_a_decimal_string_exactly():
    money = Money.parse({"amount": "125000.5", "currency": "CNY"}, "CNY")

    assert money == Money(Decimal("125000.50"), "CNY")
    assert money.as_output() == {"amount": "125000.50", "currency": "CNY"}


@pytest.mark.parametrize("amount", [125000.0, 125000, None, "12,5", "NaN", "-1.00",
                                    "0.001", "99999999999999.00"])
def test_bad_amount_is_an_error_on_annual_value_amount(amount):
    errors = errors_of(client_fields(annual_value={"amount": amount, "currency": "CNY"}))

    assert list(errors) == ["annual_value.amount"]


def test_another_currency_than_the_installations_is_an_error_on_annual_value_currency():
    errors = errors_of(client_fields(annual_value={"amount": "10.00", "currency": "USD"}))

    assert list(errors) == ["annual_value.currency"]
    assert errors["annual_value.currency"] == ["Must be CNY, the currency of this installation."]


def test_installation_currency_comes_from_the_rules():
    validate_client_fields(client_fields(annual_value={"amount": "10.00", "currency": "EUR"}),
                           ClientRules(currency="EUR"))


def test_amount_with_trailing_zeros_beyond_cents_is_the_same_amount():
    assert Money.parse({"amount": "10.500", "currency": "CNY"}, "CNY").amount == Decimal("10.50")


def test_money_itself_refuses_negative_amounts_and_bad_codes():
    with pytest.raises(ValidationFailed) as failed:
        Money(Decimal("-1"), "yuan")

    assert set(failed.value.errors) == {"amount", "currency"}
