"""FineWeb's extra heuristics (Penedo et al. 2024, "The FineWeb Datasets"), with datatrove's
definitions and defaults (``FineWebQualityFilter``): share of lines ending in terminal
punctuation, share of short lines, characters in duplicated lines, newlines per word.

Terminal punctuation covers all scripts (datatrove's list: 。 । ؟ …); the newline ratio
counts words with the document language's segmenter (``winnow.text.languages``), as
datatrove's ``language=`` option does.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from winnow.stages.base import RowResult, RowStage, register
from winnow.stages.quality.base import (
    LanguageParams,
    document_languages,
    punctuation,
    repeated_items,
    split_items,
)
from winnow.text.languages import segmenter
from winnow.text.token_ids import token_ids
from winnow.text.words import english


class FineWebParams(LanguageParams):
    line_punct_thr: float = Field(0.12, ge=0, le=1)
    line_punct_exclude_zero: bool = False
    short_line_thr: float = Field(0.67, ge=0, le=1)
    short_line_length: int = Field(30, ge=0)
    char_duplicates_ratio: float = Field(0.01, ge=0, le=1)
    new_line_ratio: float = Field(0.3, ge=0)


@register
class FineWebQuality(RowStage):
    """FineWeb's heuristics; reasons as datatrove names them."""

    name = "fineweb_quality"
    ParamsModel = FineWebParams
    summary = "line punctuation ratio, short-line ratio, duplicated-line chars, newlines per word"
    origin = "FineWeb (Penedo et al. 2024) via datatrove FineWebQualityFilter, same defaults"

    def process(self, batch: pa.RecordBatch) -> RowResult:
        texts = [text or "" for text in batch.column("text").to_pylist()]
        langs = document_languages(batch, texts, self.params.language)
        words = word_counts(batch.column("text"), langs)
        reasons, ratios = self._judge(pc.fill_null(batch.column("text"), ""), words)
        for name, column in ratios.items():
            batch = batch.append_column(name, column)
        return RowResult(batch=batch, reason=pa.array(reasons, pa.string()))

    def _judge(self, texts: pa.Array, words: np.ndarray) -> tuple[list, dict[str, pa.Array]]:
        """Per text, the reason of the first rule it fails (``empty`` without a line that
        is not blank); and the columns of its line punctuation and short line ratios. Lines
        are split at each newline and blank ones (``str.strip``) left out, as datatrove
        does; every text of the batch at once."""
        p = self.params
        n = len(texts)
        items, owner = split_items(texts, "\n")
        filled = pc.not_equal(pc.utf8_trim_whitespace(items), "")  # as str.strip
        items = items.filter(filled)
        owner = owner[filled.to_numpy(zero_copy_only=False)]
        last = pc.utf8_slice_codeunits(items, -1)  # terminal punctuation: one character each
        ends = pc.is_in(last, value_set=pa.array(punctuation()[1])).to_numpy(False)
        short = pc.less_equal(pc.utf8_length(items), p.short_line_length).to_numpy(False)
        lines, _, dup_chars = repeated_items(items, owner, n)
        per_line = np.maximum(lines, 1)
        punct_ratio = np.bincount(owner, weights=ends, minlength=n) / per_line
        short_ratio = np.bincount(owner, weights=short, minlength=n) / per_line
        newlines = pc.count_substring(texts, "\n").to_numpy(zero_copy_only=False)
        chars = np.maximum(pc.utf8_length(texts).to_numpy(zero_copy_only=False) - newlines, 1)
        few_punct = punct_ratio < p.line_punct_thr
        if p.line_punct_exclude_zero:
            few_punct &= punct_ratio != 0
        rules = (
            (few_punct, "line_punct_ratio"),
            (short_ratio > p.short_line_thr, "short_line_ratio"),
            (dup_chars / chars > p.char_duplicates_ratio, "char_dup_ratio"),
            (newlines / np.maximum(words, 1) > p.new_line_ratio, "list_ratio"),
        )
        reasons = np.full(n, None, dtype=object)
        for fails, reason in reversed(rules):  # the first rule broken names it
            reasons[fails] = reason
        empty = lines == 0
        reasons[empty] = "empty"
        ratios = {
            "fineweb_line_punct_ratio": pa.array(punct_ratio, pa.float64(), mask=empty),
            "fineweb_short_line_ratio": pa.array(short_ratio, pa.float64(), mask=empty),
        }
        return reasons.tolist(), ratios


def word_counts(texts: pa.Array, langs: list[str]) -> np.ndarray:
    """Words per document, split by each document's language rules."""
    counts = token_ids().word_counts(texts)
    for i, lang in enumerate(langs):
        if segmenter(lang) is not english():
            counts[i] = len(segmenter(lang).words(texts[i].as_py() or ""))
    return counts
