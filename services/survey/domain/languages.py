"""Languages a survey can be offered in, and texts given once per language."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .field_errors import FieldErrors

#: Languages the suite supports (a client's ``preferred_language`` is one of them).
LANGUAGES: tuple[str, ...] = ("zh-CN", "en")


def check_localised_text(value: Any, path: str, languages: Sequence[str], max_length: int,
                         errors: FieldErrors) -> dict[str, str] | None:
    """Check a ``{"zh-CN": "…", "en": "…"}`` text and return it with whitespace trimmed.

    Every language the survey declares must have a non-empty text; a text for a language the
    survey does not declare is an error too (it would never be shown). Errors name the
    language, e.g. ``title.zh-CN`` or ``questions.0.text.en``. Returns ``None`` when invalid.
    """
    if not isinstance(value, Mapping):
        errors.add(path, "Must be an object with a text for each of the survey's languages.")
        return None
    before = errors.count()
    texts: dict[str, str] = {}
    for language in languages:
        text_path = f"{path}.{language}"
        if language not in value or value[language] is None:
            errors.add(text_path, f"A text in '{language}' is required.")
            continue
        text = value[language]
        if not isinstance(text, str):
            errors.add(text_path, "Must be a string.")
        elif not text.strip():
            errors.add(text_path, "Must not be empty.")
        elif "\x00" in text:
            errors.add(text_path, "Must not contain NUL characters.")
        elif len(text.strip()) > max_length:
            errors.add(text_path, f"Must be at most {max_length} characters.")
        else:
            texts[language] = text.strip()
    if languages:
        for language in value:
            if language not in languages:
                errors.add(f"{path}.{language}",
                           f"'{language}' is not one of the survey's languages.")
    return texts if errors.count() == before else None
