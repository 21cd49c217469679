"""Exact deduplication on a hash of lightly normalised text."""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa
import pyarrow.compute as pc

from winnow.chat.view import View, view_array
from winnow.stages.base import CorpusStage, RunContext, ShardColumns, register
from winnow.stages.dedup.first_occurrence import first_occurrence
from winnow.stages.dedup.reference import ReferenceParams, with_reference
from winnow.stages.textops import collapse_whitespace
from winnow.text.utf8 import hash128


class ExactDedupParams(ReferenceParams):
    lowercase: bool = True
    """Compare case-insensitively."""
    collapse_whitespace: bool = True
    """Treat any run of whitespace as one space and ignore leading/trailing whitespace."""
    view: View = "text"
    """What to compare: ``text``, or a view of chat records (``prompt``: the same instruction
    asked twice, whatever the answers)."""


@register
class ExactDedup(CorpusStage):
    """Drop documents whose normalised text already appeared; the first in input order stays."""

    name = "exact_dedup"
    ParamsModel = ExactDedupParams
    summary = "drop repeats of identical (normalised) text; first occurrence kept"
    origin = "exact-match dedup as in C4 / Lee et al. 2022 'Deduplicating training data'"
    signature_columns = ("_exact_hi", "_exact_lo")
    index_params = ("lowercase", "collapse_whitespace", "view")
    index_text = False
    reads = ("reference",)

    def canonical(self, text: pa.Array) -> pa.Array:
        if self.params.lowercase:
            text = pc.utf8_lower(text)
        if self.params.collapse_whitespace:
            text = collapse_whitespace(text)
        return text

    def map(self, batch: pa.RecordBatch) -> dict[str, pa.Array]:
        hi, lo = hash128(self.canonical(view_array(batch, self.params.view)))
        return {"_exact_hi": pa.array(hi), "_exact_lo": pa.array(lo)}

    def reduce(self, shards: Sequence[ShardColumns], run: RunContext) -> list[pa.Table]:
        def decide(every: list[ShardColumns], fixed: int) -> list[pa.Table]:
            return first_occurrence(run, every, "_exact_hi", "_exact_lo", "exact_duplicate")

        return with_reference(self, shards, run, decide)
