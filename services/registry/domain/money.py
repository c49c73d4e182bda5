"""Money: an exact amount in the one currency of the installation.

Staff enter a client's ``annual_value`` as ``{"amount": "125000.00", "currency": "CNY"}``. The
amount travels as a decimal *string* so that no binary float ever touches it; a JSON number is
refused. One installation works in one currency (``CLIENTLOOP_CURRENCY``), so another currency is
refused too rather than converted.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Mapping

from shared.errors import ValidationFailed

from .rounding import round_half_up

MONEY_PLACES = 2
MAX_AMOUNT = Decimal("9999999999999.99")  # 15 significant digits: fits NUMERIC(15, 2)


@dataclass(frozen=True)
class Money:
    """A non-negative amount with at most two decimals, and its ISO 4217 currency code.

    Constructing one checks the amount and the code's form; :meth:`parse` also checks the
    currency against the installation's and names the offending field by its dotted path.
    """

    amount: Decimal
    currency: str

    def __post_init__(self) -> None:
        found = {"amount": _amount_errors(self.amount, MAX_AMOUNT),
                 "currency": _currency_form_errors(self.currency)}
        if any(found.values()):
            raise ValidationFailed({key: messages for key, messages in found.items() if messages})

    @classmethod
    def parse(cls, raw: Mapping[str, Any] | "Money", installation_currency: str, *,
              field: str = "annual_value", max_amount: Decimal = MAX_AMOUNT) -> "Money":
        """A Money from a request's money object, or :class:`ValidationFailed` naming
        ``<field>.amount`` / ``<field>.currency``."""
        if isinstance(raw, Money):
            raw = {"amount": raw.amount, "currency": raw.currency}
        if not isinstance(raw, Mapping):
            raise ValidationFailed({field: ['Must be an object such as '
                                            '{"amount": "125000.00", "currency": "'
                                            f'{installation_currency}"}}.']})
        errors: dict[str, list[str]] = {}
        amount = _parse_amount(raw.get("amount"))
        if isinstance(amount, str):
            errors[f"{field}.amount"] = [amount]
        else:
            amount_errors = _amount_errors(amount, max_amount)
            if amount_errors:
                errors[f"{field}.amount"] = amount_errors
        currency = raw.get("currency")
        if currency != installation_currency:
            errors[f"{field}.currency"] = [
                f"Must be {installation_currency}, the currency of this installation."]
        if errors:
            raise ValidationFailed(errors)
        return cls(amount.quantize(Decimal(1).scaleb(-MONEY_PLACES)), currency)

    def as_output(self) -> dict[str, str]:
        """The money object of the API and events: ``{"amount": "125000.00", "currency": "CNY"}``."""
        return money_output(self.amount, self.currency)


def money_output(amount: Decimal, currency: str) -> dict[str, str]:
    """Any exact amount (for instance a value at risk) as a money object, rounded half-up."""
    return {"amount": f"{round_half_up(amount, MONEY_PLACES):f}", "currency": currency}


def _parse_amount(raw: object) -> Decimal | str:
    """The amount as a Decimal, or the message saying why it is not one."""
    if raw is None:
        return "Missing amount."
    if isinstance(raw, Decimal):
        return raw
    if not isinstance(raw, str):
        return 'Must be a decimal string such as "125000.00", not a number.'
    try:
        return Decimal(raw.strip())
    except InvalidOperation:
        return 'Must be a decimal string such as "125000.00".'


def _amount_errors(amount: object, max_amount: Decimal) -> list[str]:
    if not isinstance(amount, Decimal) or not amount.is_finite():
        return ["Must be a finite decimal amount."]
    if amount < 0:
        return ["Must not be negative."]
    if amount > max_amount:
        return [f"Must be at most {max_amount}."]
    if amount != round_half_up(amount, MONEY_PLACES):
        return [f"Must have at most {MONEY_PLACES} decimals."]
    return []


def _currency_form_errors(currency: object) -> list[str]:
    if isinstance(currency, str) and len(currency) == 3 and currency.isascii() \
            and currency.isalpha() and currency.isupper():
        return []
    return ["Must be a three-letter ISO 4217 code such as CNY."]
