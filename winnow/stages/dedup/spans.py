"""Corpus-wide dedup of lines and paragraphs: a unit of text that occurs more than
``max_count`` times across the corpus is removed from every document after its first
``max_count`` occurrences in input order (C4 removes repeated three-sentence spans keeping
one, Raffel et al. 2020; Dolma dedups paragraphs, Soldaini et al. 2024).

map: a 64-bit hash (xxh3) of each unit, whitespace-stripped; blank units are never counted.
reduce: units are bucketed by hash (about ``bucket_rows`` occurrences sorted at a time) and
ranked by (hash, shard, row, position); each shard gets the positions to remove per row.
apply: the document without those units; the number of units and characters removed are
recorded, and a document left blank is dropped as ``empty_after_{unit}_dedup``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import xxhash
from pydantic import Field

from winnow.stages.base import CorpusStage, Params, RowResult, RunContext, ShardColumns, register
from winnow.stages.dedup.edits import apply_edits


class SpanDedupParams(Params):
    max_count: int = Field(1, ge=1)
    """Occurrences kept across the corpus (1: only the first, as C4)."""
    min_chars: int = Field(1, ge=1)
    """Shorter units (after stripping whitespace) are never removed."""


DECISIONS = pa.schema([("row", pa.int64()), ("remove", pa.list_(pa.int32()))])


class SpanDedup(CorpusStage):
    separator: ClassVar[str]
    unit: ClassVar[str]
    ParamsModel = SpanDedupParams
    decision_schema = DECISIONS
    bucket_rows: ClassVar[int] = 8_000_000

    @property
    def signature_columns(self) -> tuple[str, ...]:
        return (f"_{self.unit}_hashes",)

    def units(self, text: str) -> list[str]:
        return text.split(self.separator)

    def map(self, batch: pa.RecordBatch) -> dict[str, pa.Array]:
        """Per document, the hash of each unit (0 for units too short to count)."""
        min_chars, hashes = self.params.min_chars, []
        for text in batch.column("text").to_pylist():
            row = []
            for unit in self.units(text or ""):
                unit = unit.strip()
                digest = xxhash.xxh3_64_intdigest(unit.encode()) | 1  # 0 marks "not counted"
                row.append(digest if len(unit) >= min_chars else 0)
            hashes.append(row)
        return {self.signature_columns[0]: pa.array(hashes, pa.list_(pa.uint64()))}

    def reduce(self, shards: Sequence[ShardColumns], run: RunContext) -> list[pa.Table]:
        column = self.signature_columns[0]
        lists = [load([column]).column(column).combine_chunks() for load in shards]
        total = sum(len(pc.list_flatten(a)) for a in lists)
        buckets = max(1, math.ceil(total / self.bucket_rows))
        removed: list[list[tuple[np.ndarray, np.ndarray]]] = [[] for _ in shards]
        for bucket in range(buckets):
            parts = [_occurrences(a, s, buckets, bucket) for s, a in enumerate(lists)]
            h, shard, row, pos = (np.concatenate(x) for x in zip(*parts))
            order = np.lexsort((pos, row, shard, h))
            h, shard, row, pos = h[order], shard[order], row[order], pos[order]
            start = np.ones(len(h), dtype=bool)
            start[1:] = h[1:] != h[:-1]
            first = np.maximum.accumulate(np.where(start, np.arange(len(h)), 0))
            extra = (np.arange(len(h)) - first) >= self.params.max_count
            for s in np.unique(shard[extra]):
                mine = extra & (shard == s)
                removed[s].append((row[mine], pos[mine]))
        return [_decisions(parts) for parts in removed]

    def apply(self, batch: pa.RecordBatch, offset: int, decisions: pa.Table) -> RowResult:
        result, per_row = apply_edits(
            batch,
            offset,
            decisions,
            self._without,
            f"empty_after_{self.unit}_dedup",
            f"{self.unit}_dedup_chars",
        )
        removed = [len(d["remove"]) if d else 0 for d in per_row]
        column = pa.array(removed, pa.int64())
        result.batch = result.batch.append_column(f"{self.unit}_dedup_removed", column)
        return result

    def _without(self, text: str, decision: dict) -> str:
        gone = set(decision["remove"])
        return self.separator.join(u for i, u in enumerate(self.units(text)) if i not in gone)


def _occurrences(hashes: pa.ListArray, shard: int, buckets: int, bucket: int):
    """(hash, shard, row, position) of each counted unit of one shard in ``bucket``."""
    flat = pc.list_flatten(hashes).to_numpy()
    row = pc.list_parent_indices(hashes).to_numpy().astype(np.int64)
    starts = hashes.offsets.to_numpy()[:-1].astype(np.int64)
    pos = np.arange(len(flat), dtype=np.int64) - starts[row]
    take = flat != 0
    if buckets > 1:
        take &= flat % np.uint64(buckets) == bucket
    n = int(take.sum())
    return flat[take], np.full(n, shard, np.int64), row[take], pos[take].astype(np.int32)


def _decisions(parts: list[tuple[np.ndarray, np.ndarray]]) -> pa.Table:
    if not parts:
        return DECISIONS.empty_table()
    row = np.concatenate([r for r, _ in parts])
    pos = np.concatenate([p for _, p in parts])
    order = np.lexsort((pos, row))
    row, pos = row[order], pos[order]
    rows, starts = np.unique(row, return_index=True)
    offsets = np.append(starts, len(row)).astype(np.int32)
    remove = pa.ListArray.from_arrays(pa.array(offsets), pa.array(pos, pa.int32()))
    return pa.table([pa.array(rows, pa.int64()), remove], schema=DECISIONS)


@register
class LineDedup(SpanDedup):
    """Remove lines repeated across the corpus beyond their first occurrences."""

    name = "line_dedup"
    unit = "line"
    separator = "\n"
    summary = "remove lines that occur more than max_count times in the corpus (first kept)"
    origin = "C4 repeated-span removal (Raffel et al. 2020), per line"


@register
class ParagraphDedup(SpanDedup):
    """Remove paragraphs repeated across the corpus beyond their first occurrences."""

    name = "paragraph_dedup"
    unit = "paragraph"
    separator = "\n\n"
    summary = "remove paragraphs (blank-line separated) occurring more than max_count times"
    origin = "Dolma paragraph dedup (Soldaini et al. 2024)"
