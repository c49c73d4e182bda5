"""Request bodies whose 422 lists every invalid field at once.

A body is checked in two layers: its shape by the marshmallow schema (types, lengths, allowed
values), then the use case's own rules (a category of another kind, a currency that is not the
installation's, a blank title, a client nobody registered). marshmallow reports every shape
error together, but the use case only ran once the shape was right, so a bad ``kind`` hid a bad
currency until it was fixed.

:class:`BodySchema` closes that gap: when the shape is wrong, it asks :meth:`BodySchema.rule_errors`
for what the use case would say about the rest of the body, and one 422 carries both. A field is
reported by its first layer only (a value the schema already refused is not reported again by
the rules, nor its parent or children). When the shape is right the use case checks the rules
itself, as before.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import marshmallow as ma

from shared.errors import ValidationFailed


class BodySchema(ma.Schema):
    """A request body schema; override :meth:`rule_errors` with the use case's checks."""

    def rule_errors(self, valid: dict[str, Any], raw: Mapping[str, Any]
                    ) -> Mapping[str, Sequence[str]]:
        """Messages by dotted path for what the use case would refuse, given the fields the
        schema accepted (``valid``, deserialised) and the body as sent (``raw``)."""
        return {}

    def load(self, data, *, many=None, partial=None, unknown=None):
        try:
            return super().load(data, many=many, partial=partial, unknown=unknown)
        except ma.ValidationError as error:
            if many or not isinstance(data, Mapping) or not isinstance(error.messages, dict):
                raise
            valid = error.valid_data if isinstance(error.valid_data, dict) else {}
            further = rule_errors_of(self, valid, data)
            messages = merge_messages(error.messages, further)
            if messages is error.messages:
                raise
            raise ma.ValidationError(messages, data=data, valid_data=valid) from None


def rule_errors_of(schema: BodySchema, valid: dict[str, Any],
                   raw: Mapping[str, Any]) -> Mapping[str, Sequence[str]]:
    try:
        return schema.rule_errors(valid, raw) or {}
    except ValidationFailed as failed:  # a check that raises rather than returns
        return failed.errors


def merge_messages(messages: dict, further: Mapping[str, Sequence[str]]) -> dict:
    """marshmallow's ``messages`` plus each of ``further`` on a path none of them covers;
    ``messages`` itself when there is nothing to add."""
    from shared.web.problems import flatten_messages
    reported = set(flatten_messages(messages))
    added = {path: list(items) for path, items in further.items()
             if items and not any(_overlaps(path, seen) for seen in reported)}
    return {**messages, **added} if added else messages


def _overlaps(path: str, seen: str) -> bool:
    return path == seen or path.startswith(f"{seen}.") or seen.startswith(f"{path}.")
