"""``min_unique_words``: drop documents with fewer distinct words than ``min_words``."""

from __future__ import annotations

import pyarrow as pa
from pydantic import Field

from winnow.stages.base import Params, RowResult, RowStage, register


class MinUniqueWordsParams(Params):
    min_words: int = Field(10, ge=1)


@register
class MinUniqueWords(RowStage):
    """Adds ``unique_words``; drops with ``too_few_unique_words``."""

    name = "min_unique_words"
    ParamsModel = MinUniqueWordsParams
    summary = "drop documents with fewer distinct (lower-cased) words than min_words"
    origin = "the winnow plugin example"

    def process(self, batch: pa.RecordBatch) -> RowResult:
        counts = [len(set((t or "").lower().split())) for t in batch.column("text").to_pylist()]
        reason = [None if c >= self.params.min_words else "too_few_unique_words" for c in counts]
        batch = batch.append_column("unique_words", pa.array(counts, pa.int64()))
        return RowResult(batch=batch, reason=pa.array(reason, pa.string()))
