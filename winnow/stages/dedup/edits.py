"""Applying per-row text edits decided by a corpus stage's reduce (line, paragraph and
substring dedup): the rows of a batch named in the shard's decisions are rewritten, the
characters removed counted, and a document left blank dropped."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pyarrow as pa

from winnow.stages.base import RowResult, with_text


def apply_edits(
    batch: pa.RecordBatch,
    offset: int,
    decisions: pa.Table,
    edit: Callable[[str, dict], str],
    empty_reason: str,
    chars_column: str,
) -> tuple[RowResult, list[dict | None]]:
    """``edit(text, decision)`` on each row of ``batch`` (shard rows from ``offset``) that
    ``decisions`` names (sorted ``row`` column); the result, with ``chars_column`` added,
    and each row's decision (None where the row is untouched)."""
    rows = decisions.column("row").to_numpy()
    lo, hi = np.searchsorted(rows, [offset, offset + batch.num_rows])
    texts = batch.column("text").to_pylist()
    chars = np.zeros(batch.num_rows, dtype=np.int64)
    reasons: list[str | None] = [None] * batch.num_rows
    per_row: list[dict | None] = [None] * batch.num_rows
    for row, decision in zip(
        (rows[lo:hi] - offset).tolist(), decisions.slice(lo, hi - lo).to_pylist()
    ):
        old = texts[row] or ""
        texts[row] = edit(old, decision)
        chars[row] = len(old) - len(texts[row])
        per_row[row] = decision
        if not texts[row].strip():
            reasons[row] = empty_reason
    edited = hi > lo
    batch = with_text(batch, texts) if edited else batch
    batch = batch.append_column(chars_column, pa.array(chars))
    reason = pa.array(reasons, pa.string()) if edited else None
    return RowResult(batch=batch, reason=reason), per_row
