"""marshmallow fields used across services: UTC timestamps ending in ``Z``, money objects."""
from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

import marshmallow as ma
from marshmallow import fields

from shared.clock import isoformat_z, parse_timestamp

_AMOUNT = re.compile(r"^-?\d{1,15}(\.\d{1,2})?$")


class Timestamp(fields.Field):
    """ISO 8601 in UTC ending in ``Z`` on output; any ISO 8601 with an offset on input."""

    default_error_messages = {"invalid": "Not a valid ISO 8601 timestamp with a time zone."}

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


class MoneySchema(ma.Schema):
    amount = DecimalString(required=True)
    currency = fields.String(required=True, validate=ma.validate.Regexp(r"^[A-Z]{3}$",
                                                                      error="Must be a 3-letter ISO 4217 code."))
