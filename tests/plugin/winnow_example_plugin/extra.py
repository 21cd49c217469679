"""``shout``: upper-cases every document (a text edit, so chat turns follow it too)."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from winnow.stages.base import Params, RowResult, RowStage, register, with_text


@register
class Shout(RowStage):
    name = "shout"
    ParamsModel = Params
    summary = "upper-case the text"
    origin = "the winnow plugin example"

    def process(self, batch: pa.RecordBatch) -> RowResult:
        texts = pc.utf8_upper(batch.column("text")).to_pylist()
        return RowResult(batch=with_text(batch, texts))
