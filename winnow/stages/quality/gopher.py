"""Gopher quality and repetition rules (Rae et al. 2021, "Scaling Language Models", App. A),
with datatrove's definitions and defaults (``GopherQualityFilter``, ``GopherRepetitionFilter``).

Words are spaCy-English tokens (``winnow.text.words``), as in datatrove. Text without spaces
(Chinese, Japanese, Thai) is then a few very long "words": ``gopher_quality`` drops it as
``gopher_short_doc`` / ``gopher_above_avg_threshold`` exactly as datatrove does with its
default English tokenizer; use ``langid`` first and apply these rules to space-delimited
languages. The repetition rules work on lines, paragraphs and characters as well, so they
stay meaningful for any script.
"""

from __future__ import annotations

import re
from collections import Counter
from functools import partial

import pyarrow as pa
from pydantic import Field

from winnow.stages.base import Params, register
from winnow.stages.quality.base import DocumentFilter, punctuation
from winnow.text.ngrams import LONG_DOCUMENT, NgramIndex, duplicate_chars, top_gram_chars
from winnow.text.words import english

STOP_WORDS = ("the", "be", "to", "of", "and", "that", "have", "with")


class GopherQualityParams(Params):
    min_doc_words: int | None = Field(50, ge=0)
    max_doc_words: int | None = Field(100_000, ge=1)
    min_avg_word_length: float | None = Field(3, ge=0)
    max_avg_word_length: float | None = Field(10, ge=0)
    max_symbol_word_ratio: float | None = Field(0.1, ge=0)
    max_bullet_lines_ratio: float | None = Field(0.9, ge=0, le=1)
    max_ellipsis_lines_ratio: float | None = Field(0.3, ge=0, le=1)
    max_non_alpha_words_ratio: float | None = Field(0.8, ge=0, le=1)
    """As datatrove names it: the minimum share of words holding a letter."""
    min_stop_words: int | None = Field(2, ge=0)
    stop_words: tuple[str, ...] = STOP_WORDS


_KINDS: dict[str, tuple[bool, bool]] = {}


def _word_kind(word: str) -> tuple[bool, bool]:
    """(has a non-punctuation character, has a letter), remembered per word."""
    kind = _KINDS.get(word)
    if kind is None:
        if len(_KINDS) > 1 << 20:
            _KINDS.clear()
        punct = punctuation()[0]
        kind = _KINDS[word] = (
            any(ch not in punct for ch in word),
            any(ch.isalpha() for ch in word),
        )
    return kind


@register
class GopherQuality(DocumentFilter):
    """Gopher's document-quality rules; reasons as datatrove names them."""

    name = "gopher_quality"
    ParamsModel = GopherQualityParams
    summary = (
        "word count, mean word length, #/ellipsis ratios, bullet/ellipsis lines, "
        "alpha words, stop words"
    )
    origin = "Gopher (Rae et al. 2021) via datatrove GopherQualityFilter, same defaults"
    stat_columns = {
        "gopher_words": pa.int64(),
        "gopher_mean_word_length": pa.float64(),
        "gopher_alpha_word_ratio": pa.float64(),
    }

    def judge(self, text: str) -> tuple[str | None, dict]:
        words = english().words(text)
        n_words = len(words)
        counts = Counter(words)
        n_content = content_chars = n_alpha = 0
        kinds = _KINDS
        for word, count in counts.items():
            content, alpha = kinds.get(word) or _word_kind(word)
            if content:
                n_content += count
                content_chars += count * len(word)
            if alpha:
                n_alpha += count
        mean_len = content_chars / n_content if n_content else float("nan")
        alpha_ratio = n_alpha / n_words if n_words else 0.0
        stats = {
            "gopher_words": n_content,
            "gopher_mean_word_length": mean_len,
            "gopher_alpha_word_ratio": alpha_ratio,
        }
        return self._decide(text, n_words, n_content, mean_len, n_alpha, counts), stats

    def _decide(self, text, n_words, n_content, mean_len, n_alpha, counts) -> str | None:
        p = self.params
        if p.min_doc_words and n_content < p.min_doc_words:
            return "gopher_short_doc"
        if p.max_doc_words and n_content > p.max_doc_words:
            return "gopher_long_doc"
        if p.min_avg_word_length and mean_len < p.min_avg_word_length:
            return "gopher_below_avg_threshold"
        if p.max_avg_word_length and mean_len > p.max_avg_word_length:
            return "gopher_above_avg_threshold"
        if not n_words:
            return "gopher_short_doc"
        if p.max_symbol_word_ratio:
            if text.count("#") / n_words > p.max_symbol_word_ratio:
                return "gopher_too_many_hashes"
            if (text.count("...") + text.count("…")) / n_words > p.max_symbol_word_ratio:
                return "gopher_too_many_ellipsis"
        lines = text.splitlines()
        if lines and p.max_bullet_lines_ratio:
            bullets = sum(s.lstrip().startswith(("•", "-")) for s in lines)
            if bullets / len(lines) > p.max_bullet_lines_ratio:
                return "gopher_too_many_bullets"
        if lines and p.max_ellipsis_lines_ratio:
            ending = sum(s.rstrip().endswith(("...", "…")) for s in lines)
            if ending / len(lines) > p.max_ellipsis_lines_ratio:
                return "gopher_too_many_end_ellipsis"
        if p.max_non_alpha_words_ratio and n_alpha / n_words < p.max_non_alpha_words_ratio:
            return "gopher_below_alpha_threshold"
        if p.min_stop_words and sum(w in counts for w in set(p.stop_words)) < p.min_stop_words:
            return "gopher_enough_stop_words"
        return None


class GopherRepetitionParams(Params):
    dup_line_frac: float | None = Field(0.3, ge=0, le=1)
    dup_para_frac: float | None = Field(0.3, ge=0, le=1)
    dup_line_char_frac: float | None = Field(0.2, ge=0, le=1)
    dup_para_char_frac: float | None = Field(0.2, ge=0, le=1)
    top_n_grams: tuple[tuple[int, float], ...] = ((2, 0.2), (3, 0.18), (4, 0.16))
    dup_n_grams: tuple[tuple[int, float], ...] = (
        (5, 0.15),
        (6, 0.14),
        (7, 0.13),
        (8, 0.12),
        (9, 0.11),
        (10, 0.10),
    )


_PARAGRAPHS = re.compile(r"\n{2,}")
_LINES = re.compile("\n+")


def find_duplicates(items: list[str]) -> tuple[int, int]:
    """(repeated items, characters in repeated items), first occurrences excluded."""
    seen: set[str] = set()
    dup_items = dup_chars = 0
    for item in items:
        if item in seen:
            dup_items += 1
            dup_chars += len(item)
        else:
            seen.add(item)
    return dup_items, dup_chars


@register
class GopherRepetition(DocumentFilter):
    """Gopher's repetition rules; reasons as datatrove names them."""

    name = "gopher_repetition"
    ParamsModel = GopherRepetitionParams
    summary = (
        "duplicate lines/paragraphs (count and chars), top 2-4-gram and "
        "duplicated 5-10-gram character fractions"
    )
    origin = "Gopher (Rae et al. 2021, table A1) via datatrove GopherRepetitionFilter"
    stat_columns = {"gopher_dup_line_frac": pa.float64(), "gopher_dup_para_frac": pa.float64()}

    def judge(self, text: str) -> tuple[str | None, dict]:
        p = self.params
        if not text:
            return "empty", {}
        paragraphs = _PARAGRAPHS.split(text.strip())
        para_dups, para_chars = find_duplicates(paragraphs)
        lines = _LINES.split(text)
        line_dups, line_chars = find_duplicates(lines)
        stats = {
            "gopher_dup_line_frac": line_dups / len(lines),
            "gopher_dup_para_frac": para_dups / len(paragraphs),
        }
        size = len(text)
        if p.dup_para_frac and para_dups / len(paragraphs) > p.dup_para_frac:
            return "dup_para_frac", stats
        if p.dup_para_char_frac and para_chars / size > p.dup_para_char_frac:
            return "dup_para_char_frac", stats
        if p.dup_line_frac and line_dups / len(lines) > p.dup_line_frac:
            return "dup_line_frac", stats
        if p.dup_line_char_frac and line_chars / size > p.dup_line_char_frac:
            return "dup_line_char_frac", stats
        words = english().words(text)
        if len(words) >= LONG_DOCUMENT:  # one shared index of n-gram keys
            index = NgramIndex(words)
            top, dup = index.top_gram_chars, index.duplicate_chars
        else:
            top = partial(top_gram_chars, words)
            dup = partial(duplicate_chars, words)
        unique_from = None  # once no n-gram repeats, no longer n-gram repeats either
        for n, frac in sorted(p.top_n_grams):
            if len(words) < n:
                continue
            if unique_from is not None and n > unique_from:
                chars = sum(map(len, words[:n])) + n - 1  # every n-gram once: the first wins
            else:
                chars, count = top(n)
                if count == 1:
                    unique_from = n
            if chars / size > frac:
                return f"top_{n}_gram", stats
        for n, frac in sorted(p.dup_n_grams):
            chars = dup(n, limit=frac * size)
            if chars is None:
                break
            if chars / size > frac:
                return f"duplicated_{n}_n_grams", stats
        return None, stats
