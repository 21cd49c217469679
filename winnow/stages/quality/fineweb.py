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
from pydantic import Field

from winnow.stages.base import RowResult, RowStage, register
from winnow.stages.quality.base import LanguageParams, document_languages, punctuation
from winnow.stages.quality.gopher import find_duplicates
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
        judged = [self._judge(*row) for row in zip(texts, words.tolist())]
        for name, index in (("fineweb_line_punct_ratio", 1), ("fineweb_short_line_ratio", 2)):
            batch = batch.append_column(name, pa.array([j[index] for j in judged], pa.float64()))
        return RowResult(batch=batch, reason=pa.array([j[0] for j in judged], pa.string()))

    def _judge(self, text: str, n_words: int) -> tuple[str | None, float | None, float | None]:
        """(reason, line punctuation ratio, short line ratio)."""
        p = self.params
        lines = [line for line in text.split("\n") if line.strip() != ""]
        if not lines:
            return "empty", None, None
        stops = punctuation()[1]
        punct_ratio = sum(1 for line in lines if line.endswith(stops)) / len(lines)
        short_ratio = sum(1 for line in lines if len(line) <= p.short_line_length) / len(lines)
        if punct_ratio < p.line_punct_thr and not (punct_ratio == 0 and p.line_punct_exclude_zero):
            return "line_punct_ratio", punct_ratio, short_ratio
        if short_ratio > p.short_line_thr:
            return "short_line_ratio", punct_ratio, short_ratio
        if find_duplicates(lines)[1] / len(text.replace("\n", "")) > p.char_duplicates_ratio:
            return "char_dup_ratio", punct_ratio, short_ratio
        if text.count("\n") / max(n_words, 1) > p.new_line_ratio:
            return "list_ratio", punct_ratio, short_ratio
        return None, punct_ratio, short_ratio


def word_counts(texts: pa.Array, langs: list[str]) -> np.ndarray:
    """Words per document, split by each document's language rules."""
    counts = token_ids().word_counts(texts)
    for i, lang in enumerate(langs):
        if segmenter(lang) is not english():
            counts[i] = len(segmenter(lang).words(texts[i].as_py() or ""))
    return counts
