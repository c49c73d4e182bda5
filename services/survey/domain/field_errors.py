"""Field errors collected by dotted path and raised together as one ``ValidationFailed``.

Staff editing a survey, or a client filling one in, should see every problem at once rather
than one per attempt, so the validators below gather messages before raising.
"""
from __future__ import annotations

from shared.errors import ValidationFailed

REQUIRED = "This field is required."


class FieldErrors:
    """Messages by dotted path (``questions.2.options``), in the order they were found."""

    def __init__(self) -> None:
        self._messages: dict[str, list[str]] = {}

    def add(self, path: str, message: str) -> None:
        self._messages.setdefault(path, []).append(message)

    def count(self) -> int:
        return sum(len(messages) for messages in self._messages.values())

    def raise_if_any(self) -> None:
        if self._messages:
            raise ValidationFailed(self._messages)


def reject_unknown_fields(value: dict, known: frozenset[str], path: str,
                          errors: FieldErrors) -> None:
    """Flag fields nobody reads: a misspelt ``requried`` must not silently mean "optional"."""
    for name in value:
        if name not in known:
            errors.add(f"{path}.{name}" if path else str(name), "Unknown field.")
