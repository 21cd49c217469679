"""FineWeb's extra heuristics (Penedo et al. 2024, "The FineWeb Datasets"), with datatrove's
definitions and defaults (``FineWebQualityFilter``): share of lines ending in terminal
punctuation, share of short lines, characters in duplicated lines, newlines per word.

Terminal punctuation covers all scripts (datatrove's list: 。 । ؟ …); the newline ratio
counts words with the document language's segmenter (``winnow.text.languages``), as
datatrove's ``language=`` option does.
"""

from __future__ import annotations

import pyarrow as pa
from pydantic import Field

from winnow.stages.base import register
from winnow.stages.quality.base import DocumentFilter, LanguageParams, punctuation
from winnow.stages.quality.gopher import find_duplicates
from winnow.text.languages import segmenter


class FineWebParams(LanguageParams):
    line_punct_thr: float = Field(0.12, ge=0, le=1)
    line_punct_exclude_zero: bool = False
    short_line_thr: float = Field(0.67, ge=0, le=1)
    short_line_length: int = Field(30, ge=0)
    char_duplicates_ratio: float = Field(0.01, ge=0, le=1)
    new_line_ratio: float = Field(0.3, ge=0)


@register
class FineWebQuality(DocumentFilter):
    """FineWeb's heuristics; reasons as datatrove names them."""

    name = "fineweb_quality"
    ParamsModel = FineWebParams
    summary = "line punctuation ratio, short-line ratio, duplicated-line chars, newlines per word"
    origin = "FineWeb (Penedo et al. 2024) via datatrove FineWebQualityFilter, same defaults"
    stat_columns = {
        "fineweb_line_punct_ratio": pa.float64(),
        "fineweb_short_line_ratio": pa.float64(),
    }

    def judge(self, text: str, lang: str) -> tuple[str | None, dict]:
        p = self.params
        lines = [line for line in text.split("\n") if line.strip() != ""]
        if not lines:
            return "empty", {}
        stops = punctuation()[1]
        punct_ratio = sum(1 for line in lines if line.endswith(stops)) / len(lines)
        short_ratio = sum(1 for line in lines if len(line) <= p.short_line_length) / len(lines)
        stats = {"fineweb_line_punct_ratio": punct_ratio, "fineweb_short_line_ratio": short_ratio}
        if punct_ratio < p.line_punct_thr and not (punct_ratio == 0 and p.line_punct_exclude_zero):
            return "line_punct_ratio", stats
        if short_ratio > p.short_line_thr:
            return "short_line_ratio", stats
        if find_duplicates(lines)[1] / len(text.replace("\n", "")) > p.char_duplicates_ratio:
            return "char_dup_ratio", stats
        n_words = len(segmenter(lang).words(text))
        if text.count("\n") / max(n_words, 1) > p.new_line_ratio:
            return "list_ratio", stats
        return None, stats
