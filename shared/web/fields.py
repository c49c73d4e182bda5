"""marshmallow fields used across services: UTC timestamps ending in ``Z``, money objects.

Each custom field documents itself in the OpenAPI documents through ``openapi_properties``
(read by ``shared.web.openapi.DocumentedRules``), as precisely as it validates.
"""
from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

import marshmallow as ma
from marshmallow import fields

from shared.clock import isoformat_z, parse_timestamp

_AMOUNT = re.compile(r"^-?\d{1,15}(\.\d{1,2})?$")
#: What the documents promise: at most 9999999999999.99 (NUMERIC(15, 2)), two decimals, ASCII.
AMOUNT_PATTERN = r"^[0-9]{1,13}(\.[0-9]{1,2})?$"


#: No NUL character: every JSON string with one is refused (``shared.web.body``).
TEXT_PATTERN = r"^[^\u0000]*$"
#: Some text that is not only whitespace, and no NUL character.
NON_BLANK_PATTERN = r"^[^\u0000]*[^\s\u0000][^\u0000]*$"


def text_field(*, max_length: int | None = None, min_length: int | None = None,
               blank: bool = True, metadata: dict | None = None, **kwargs) -> fields.String:
    """A free-text string: lengths validated here, and documented with what the service
    refuses anyway (NUL characters; only whitespace, when ``blank`` is false)."""
    if min_length is not None or max_length is not None:
        kwargs.setdefault("validate", ma.validate.Length(min=min_length, max=max_length))
    documented = {"pattern": TEXT_PATTERN if blank else NON_BLANK_PATTERN}
    if not blank and not min_length:
        documented["minLength"] = 1
    return fields.String(metadata={**documented, **(metadata or {})}, **kwargs)


class Timestamp(fields.Field):
    """ISO 8601 in UTC ending in ``Z`` on output; any ISO 8601 with an offset on input."""

    default_error_messages = {"invalid": "Not a valid ISO 8601 timestamp with a time zone."}

    def openapi_properties(self, **_context):
        return {"type": "string", "format": "date-time"}

    def _serialize(self, value, attr, obj, **kwargs):
        return isoformat_z(value)

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str) or "T" not in value:
            raise self.make_error("invalid")
        text = value.strip()
        if not (text.endswith("Z") or re.search(r"[+-]\d{2}:?\d{2}$", text)):
            raise self.make_error("invalid")
        try:
            return parse_timestamp(text)
        except ValueError as exc:
            raise self.make_error("invalid") from exc


class DecimalString(fields.Field):
    """A decimal amount as a JSON string (``"125000.00"``); a JSON number is refused."""

    default_error_messages = {
        "invalid": "Must be a decimal number written as a string, such as \"125000.00\".",
        "negative": "Must not be negative.",
    }

    def openapi_properties(self, **_context):
        return {"type": "string", "pattern": AMOUNT_PATTERN, "example": "125000.00"}

    def _serialize(self, value, attr, obj, **kwargs):
        if value is None:
            return None
        return f"{Decimal(value).quantize(Decimal('0.01'))}"

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str) or not _AMOUNT.match(value.strip()):
            raise self.make_error("invalid")
        try:
            amount = Decimal(value.strip())
        except InvalidOperation as exc:
            raise self.make_error("invalid") from exc
        if amount < 0:
            raise self.make_error("negative")
        return amount


class CurrencyCode(fields.String):
    """A 3-letter ISO 4217 code. An installation works in one currency (``CLIENTLOOP_CURRENCY``):
    the use cases refuse any other, and the OpenAPI document names it as the only value."""

    def __init__(self, **kwargs):
        super().__init__(validate=ma.validate.Regexp(r"^[A-Z]{3}$",
                                                     error="Must be a 3-letter ISO 4217 code."),
                         **kwargs)

    def openapi_properties(self, *, currency: str | None = None, **_context):
        return {"enum": [currency]} if currency else {}


class MoneySchema(ma.Schema):
    amount = DecimalString(required=True)
    currency = CurrencyCode(required=True)
