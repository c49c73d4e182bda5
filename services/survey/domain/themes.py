"""Feedback themes: what clients write about, how often, and how those clients feel.

The comments of responses (their answers to ``text`` questions) are cut into terms:

* Chinese runs are segmented with jieba; a one-character token is dropped (它们多是虚词:
  ``的``, ``很``, ``了``)::

      "物流太慢了，快递三天才到"  →  物流 · 太慢 · 快递 · 三天        (了, 才, 到 dropped)

* other text is lower-cased and split into words (letters, digits, ``'`` and ``-`` inside a
  word); a word of one letter and a number are dropped::

      "Delivery was SLOW, support great!"  →  delivery · slow · support · great  (was: stop word)

* stop words (``theme_words.STOP_WORDS`` per language, extended by the organisation's file) are
  dropped, whatever the language the response was given in;
* the synonym map merges terms into one theme: with ``物流: 快递, 发货`` the comments above
  mention the theme ``物流`` once, through the terms ``物流`` and ``快递``.

A **theme** is a term after the synonym map. For a set of responses with text:

* ``mentions`` — how many responses mention it (a response saying it three times counts once);
* ``share`` — ``mentions`` as a percentage of the responses with text (2 decimals);
* ``score_mean`` — mean of those responses' scores (unscored ones left out), 2 decimals;
* ``nps`` — NPS of those responses' answers to the survey's first NPS question
  (% promoters − % detractors, 2 decimals; ``None`` when none of them answered it);
* ``terms`` — the words seen that made the theme, sorted;
* ``examples`` — up to three of those comments, newest first.

Themes are sorted by ``mentions`` (most first), then by theme (so equal counts always come in
the same order). **Detractor drivers** are the themes with at least ``driver_min_mentions`` (5)
mentions and an NPS, sorted by that NPS, lowest first (then by mentions, most first, then by
theme). Example: 物流 mentioned by 6 responses with NPS −50 and 价格 by 5 with NPS 20 →
drivers ``[物流, 价格]``; 客服 with 4 mentions is not a driver, however low its NPS.

Everything here is a pure function of its input: the same comments and configuration always
give the same themes, in the same order.
"""
from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from fractions import Fraction
from typing import Any

from .rounding import percentage, round_half_up
from .scoring import DEFAULT_FEEDBACK_RULES, FeedbackRules, nps_category
from .theme_words import STOP_WORDS, SYNONYMS

#: A theme is a detractor driver from this many mentions.
DRIVER_MIN_MENTIONS = 5
#: Example comments per theme, newest first.
EXAMPLES = 3
#: An example comment longer than this is cut (with "…").
EXAMPLE_CHARS = 500

_CJK = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_LETTER = rf"[^\W_{_CJK}]"  # a letter or digit that is not Chinese
_RUNS = re.compile(rf"([{_CJK}]+)|({_LETTER}+(?:['’-]{_LETTER}+)*)")


@dataclass(frozen=True)
class ThemeConfig:
    """Stop words (lower-case) and the synonym map (term → theme)."""

    stop_words: frozenset[str] = frozenset()
    synonyms: Mapping[str, str] = field(default_factory=dict)
    driver_min_mentions: int = DRIVER_MIN_MENTIONS
    examples: int = EXAMPLES

    def extended(self, stop_words: Iterable[str] = (),
                 synonyms: Mapping[str, Iterable[str]] | None = None) -> "ThemeConfig":
        """This configuration with more stop words and synonyms (``{theme: [term, …]}``); a
        term given again is moved to its new theme."""
        merged = dict(self.synonyms)
        for theme, terms in (synonyms or {}).items():
            theme = theme.strip().lower()
            for term in terms:
                merged[term.strip().lower()] = theme
            merged.pop(theme, None)  # a theme is itself, never another's synonym
        return ThemeConfig(self.stop_words | {word.strip().lower() for word in stop_words},
                           merged, self.driver_min_mentions, self.examples)


def default_config() -> ThemeConfig:
    """The shipped stop words of every language and the shipped synonym map."""
    words = frozenset(word for per_language in STOP_WORDS.values() for word in per_language)
    return ThemeConfig().extended(words, SYNONYMS)


class ConfigError(ValueError):
    """A line of a theme configuration file that cannot be read."""


def parse_config(text: str, base: ThemeConfig | None = None) -> ThemeConfig:
    """Extend ``base`` (the shipped configuration by default) with a configuration file::

        # comments start with #
        [stop_words]
        还行, okay
        thanks
        [synonyms]
        物流: 快递, 发货, 配送
        price: cost, pricing

    Stop words: one or more a line, separated by commas. Synonyms: ``theme: term, term``.
    """
    base = base if base is not None else default_config()
    section = None
    stop_words: list[str] = []
    synonyms: dict[str, list[str]] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip().lstrip("\ufeff")
        if not line:
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1].strip()
            if section not in ("stop_words", "synonyms"):
                raise ConfigError(f"line {number}: unknown section [{section}] "
                                  "(expected [stop_words] or [synonyms])")
            continue
        if section == "stop_words":
            stop_words += [word for word in _split_list(line)]
        elif section == "synonyms":
            theme, colon, terms = line.replace("：", ":").partition(":")
            if not colon or not theme.strip() or not _split_list(terms):
                raise ConfigError(f"line {number}: expected 'theme: term, term', got {raw!r}")
            synonyms.setdefault(theme.strip(), []).extend(_split_list(terms))
        else:
            raise ConfigError(f"line {number}: outside a section ([stop_words] or [synonyms])")
    return base.extended(stop_words, synonyms)


def _split_list(text: str) -> list[str]:
    return [item.strip() for item in re.split(r"[,，、]", text) if item.strip()]


_segmenter = None
_segmenter_lock = threading.Lock()


def _segment(text: str) -> list[str]:
    """jieba's accurate mode with its shipped dictionary, on a tokenizer of our own (loaded
    once, on first use; jieba's global one is left alone)."""
    global _segmenter
    if _segmenter is None:
        with _segmenter_lock:
            if _segmenter is None:
                import logging

                import jieba
                jieba.setLogLevel(logging.WARNING)
                tokenizer = jieba.Tokenizer()
                tokenizer.initialize()
                _segmenter = tokenizer
    return _segmenter.lcut(text)


def terms(text: str, config: ThemeConfig) -> list[tuple[str, str]]:
    """``(theme, term)`` pairs of a comment, each once, in order of first appearance. With
    the shipped configuration (``物流: 快递, 发货``)::

        terms("快递很慢，Delivery was slow", config)
        → [("物流", "快递"), ("delivery", "delivery"), ("slow", "slow")]

    (``很`` and ``慢`` are one character; ``was`` is a stop word.)
    """
    seen: dict[str, str] = {}
    for match in _RUNS.finditer(text):
        chinese, word = match.groups()
        if chinese:
            tokens = [token for token in _segment(chinese) if len(token) > 1]
        else:
            word = word.lower().replace("’", "'")
            tokens = [] if len(word) < 2 or word.isdigit() else [word]
        for token in tokens:
            if token in config.stop_words:
                continue
            theme = config.synonyms.get(token, token)
            if theme in config.stop_words:
                continue
            seen.setdefault(f"{theme}\0{token}", theme)
    return [(theme, key.split("\0", 1)[1]) for key, theme in seen.items()]


@dataclass(frozen=True)
class Comment:
    """One response's comment: the text of its ``text`` answers (joined by new lines)."""

    response_id: str
    text: str
    language: str
    submitted_at: datetime
    score: Decimal | None = None
    nps: int | None = None
    survey_id: str | None = None


@dataclass
class _Theme:
    theme: str
    terms: set[str] = field(default_factory=set)
    comments: list[Comment] = field(default_factory=list)


def analyse(comments: Iterable[Comment], config: ThemeConfig,
            rules: FeedbackRules = DEFAULT_FEEDBACK_RULES) -> dict[str, Any]:
    """``{"responses_with_text", "items", "detractor_drivers"}`` over the comments (blank ones
    are not counted). ``items`` holds every theme; a caller may show a page of them."""
    found: dict[str, _Theme] = {}
    with_text = 0
    for comment in comments:
        if not comment.text.strip():
            continue
        with_text += 1
        for theme, term in terms(comment.text, config):
            entry = found.setdefault(theme, _Theme(theme))
            entry.terms.add(term)
            if not entry.comments or entry.comments[-1] is not comment:
                entry.comments.append(comment)
    items = [_item(entry, with_text, config, rules) for entry in found.values()]
    items.sort(key=lambda item: (-item["mentions"], item["theme"]))
    drivers = [item for item in items
               if item["mentions"] >= config.driver_min_mentions and item["nps"] is not None]
    drivers.sort(key=lambda item: (item["nps"], -item["mentions"], item["theme"]))
    return {"responses_with_text": with_text, "items": items, "detractor_drivers": drivers}


def _item(entry: _Theme, with_text: int, config: ThemeConfig,
          rules: FeedbackRules) -> dict[str, Any]:
    comments = entry.comments
    scores = [comment.score for comment in comments if comment.score is not None]
    answers = [comment.nps for comment in comments if comment.nps is not None]
    categories = [nps_category(answer, rules) for answer in answers]
    nps = None
    if answers:
        nps = round_half_up(Fraction(categories.count("promoter") - categories.count("detractor"),
                                     len(answers)) * 100, rules.places)
    newest = sorted(comments, key=lambda comment: (comment.submitted_at, comment.response_id),
                    reverse=True)[:config.examples]
    return {
        "theme": entry.theme, "terms": sorted(entry.terms), "mentions": len(comments),
        "share": percentage(len(comments), with_text, rules.places),
        "score_mean": round_half_up(sum(Fraction(score) for score in scores) / len(scores),
                                    rules.places) if scores else None,
        "nps": nps,
        "examples": [_example(comment) for comment in newest],
    }


def _example(comment: Comment) -> dict[str, Any]:
    text = comment.text.strip()
    if len(text) > EXAMPLE_CHARS:
        text = text[:EXAMPLE_CHARS - 1] + "…"
    example = {"response_id": comment.response_id, "text": text, "language": comment.language,
               "submitted_at": comment.submitted_at}
    if comment.survey_id is not None:
        example["survey_id"] = comment.survey_id
    return example


def comment_of(answers: Mapping[str, Any], text_keys: Iterable[str]) -> str:
    """The comment of a response: its answers to the ``text`` questions, in the survey's
    order, joined by new lines (non-text and blank answers left out)."""
    parts = [answers.get(key) for key in text_keys]
    return "\n".join(part.strip() for part in parts if isinstance(part, str) and part.strip())
