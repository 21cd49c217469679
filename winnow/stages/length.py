"""Document length bounds in characters and words."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from winnow.chat.view import View, view_array
from winnow.stages.base import Params, RowResult, RowStage, register
from winnow.stages.textops import word_counts


class LengthParams(Params):
    min_chars: int = Field(0, ge=0)
    max_chars: int | None = Field(None, ge=1)
    min_words: int = Field(0, ge=0)
    """Gopher (Rae et al. 2021) keeps 50 to 100,000 words."""
    max_words: int | None = Field(None, ge=1)
    view: View = "text"
    """What to measure: ``text``, or a view of chat records (``response``: assistant turns)."""


@register
class LengthFilter(RowStage):
    """Drop documents outside the length bounds; adds ``length_chars`` and ``length_words``."""

    name = "length_filter"
    ParamsModel = LengthParams
    summary = "keep documents within min/max characters and whitespace-separated words"
    origin = "Gopher document-length rule (Rae et al. 2021), datatrove GopherQualityFilter"

    def process(self, batch: pa.RecordBatch) -> RowResult:
        p = self.params
        text = view_array(batch, p.view)
        chars = pc.utf8_length(text)
        words = pa.array(word_counts(text))
        reason = pa.nulls(len(text), pa.string())
        rules = [  # the first failing rule names the drop
            ("too_short_words", p.min_words > 0 and pc.less(words, p.min_words)),
            ("too_long_words", p.max_words is not None and pc.greater(words, p.max_words or 0)),
            ("too_short_chars", p.min_chars > 0 and pc.less(chars, p.min_chars)),
            ("too_long_chars", p.max_chars is not None and pc.greater(chars, p.max_chars or 0)),
        ]
        for name, hit in reversed(rules):
            if hit is not False:
                reason = pc.if_else(hit, pa.scalar(name), reason)
        batch = batch.append_column("length_chars", chars.cast(pa.int64()))
        batch = batch.append_column("length_words", words.cast(pa.int64()))
        return RowResult(batch=batch, reason=reason)
