"""Line-level boilerplate removal: drop navigation, cookie and sharing lines from a document
and keep the rest, recording how much was removed (the line filters of C4, Raffel et al.
2020, and of RefinedWeb's line-wise corrections, Penedo et al. 2023, applied as an edit).

A line goes when it holds a boilerplate phrase (cookie or privacy notices, "all rights
reserved", "subscribe", "share on", "log in", "click here", "javascript"), when it looks like
a menu (three or more items split by ``|``, ``·`` or ``»`` and few words per item), or when it
repeats a line already kept ``max_line_repeats`` times. Documents left empty are dropped.
"""

from __future__ import annotations

import re

import pyarrow as pa
from pydantic import Field

from winnow.stages.base import Params, RowResult, RowStage, register, with_text

PHRASES = (
    "cookie",
    "privacy policy",
    "terms of use",
    "terms of service",
    "terms and conditions",
    "all rights reserved",
    "subscribe to",
    "sign up for",
    "share on",
    "share this",
    "log in",
    "sign in",
    "click here",
    "javascript",
    "skip to content",
    "back to top",
    "read more",
    "follow us",
)


class LineCleanParams(Params):
    phrases: tuple[str, ...] = PHRASES
    """Lower-case phrases that mark a boilerplate line."""
    max_phrase_line_words: int = Field(30, ge=1)
    """A phrase only condemns lines up to this many words (a paragraph that mentions
    cookies is content)."""
    menu_items: int = Field(3, ge=2)
    max_line_repeats: int = Field(1, ge=1)


_MENU_SPLIT = re.compile(r"\s+[|·»]\s+")


@register
class LineClean(RowStage):
    """Removes boilerplate lines; adds ``line_clean_lines`` and ``line_clean_chars`` removed."""

    name = "line_clean"
    ParamsModel = LineCleanParams
    summary = "remove boilerplate lines (cookie/policy/share phrases, menus, repeats); counts"
    origin = (
        "C4 line filters (Raffel et al. 2020), RefinedWeb line corrections (Penedo et al. 2023)"
    )

    def __init__(self, params=None) -> None:
        super().__init__(params)
        self._phrase = re.compile("|".join(re.escape(p) for p in self.params.phrases))

    def _boilerplate(self, line: str, seen: dict[str, int]) -> bool:
        p = self.params
        stripped = line.strip()
        if not stripped:
            return False
        if len(stripped.split()) <= p.max_phrase_line_words and self._phrase.search(
            stripped.lower()
        ):
            return True
        items = _MENU_SPLIT.split(stripped)
        if len(items) >= p.menu_items and all(len(i.split()) <= 4 for i in items):
            return True
        seen[stripped] = seen.get(stripped, 0) + 1
        return seen[stripped] > p.max_line_repeats

    def clean(self, text: str) -> tuple[str, int, int]:
        seen: dict[str, int] = {}
        kept, lines, chars = [], 0, 0
        for line in text.split("\n"):
            if self._boilerplate(line, seen):
                lines += 1
                chars += len(line) + 1
            else:
                kept.append(line)
        return ("\n".join(kept).strip() if lines else text), lines, chars

    def process(self, batch: pa.RecordBatch) -> RowResult:
        texts, lines, chars, reasons = [], [], [], []
        for text in batch.column("text").to_pylist():
            cleaned, n_lines, n_chars = self.clean(text or "")
            texts.append(cleaned)
            lines.append(n_lines)
            chars.append(n_chars)
            reasons.append("empty_after_line_clean" if not cleaned.strip() else None)
        batch = with_text(batch, texts)
        batch = batch.append_column("line_clean_lines", pa.array(lines, pa.int64()))
        batch = batch.append_column("line_clean_chars", pa.array(chars, pa.int64()))
        reason = pa.array(reasons, pa.string())
        return RowResult(batch=batch, reason=reason)
