"""Global "keep the first occurrence of each key" reduce over a key shuffle.

Keys are 128-bit hashes stored as two uint64 signature columns. The keys are shuffled into
partitions by their high word (``shuffle.py``); within a partition a lexicographic sort by
(key, document) puts the first occurrence in input order first. One task per shard, then
one per partition, so memory is bounded by a shard or a partition, not the corpus.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa

from winnow.stages.base import RunContext, ShardColumns, scratch_of
from winnow.stages.dedup.drops import drops_tables
from winnow.stages.dedup.shuffle import concat, read_partition, shuffle


def first_occurrence(
    run: RunContext,
    shards: Sequence[ShardColumns],
    hi_col: str,
    lo_col: str,
    reason: str,
    present: str | None = None,
) -> list[pa.Table]:
    """Drop every row whose key appeared earlier in input order; name the first row's id.
    Rows whose ``present`` column is 0 have no key."""
    with scratch_of(run) as folder:
        keys = shuffle(run, shards, [(hi_col, lo_col)], folder, present=present)
        calls = [(keys.paths, p) for p in range(keys.parts)]
        found = run.workers.map("first occurrences", repeats_in_partition, calls)
    removed, first, size = (concat([f[i] for f in found]) for i in range(3))
    reasons = [reason] * len(removed)
    return drops_tables(shards, keys.offsets, removed, reasons, first, size)


def repeats_in_partition(
    paths: Sequence[str], part: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(repeated document, its key's first document, documents with that key)."""
    _, hi, lo, doc = read_partition(paths, part)
    order = np.lexsort((doc, lo, hi))
    hi, lo, doc = hi[order], lo[order], doc[order]
    is_first = np.ones(len(hi), dtype=bool)
    is_first[1:] = (hi[1:] != hi[:-1]) | (lo[1:] != lo[:-1])
    first_pos = np.maximum.accumulate(np.where(is_first, np.arange(len(hi)), 0))
    dup = np.nonzero(~is_first)[0]
    group = np.cumsum(is_first) - 1
    size = np.bincount(group)[group[dup]] if len(dup) else np.zeros(0, np.int64)
    return doc[dup], doc[first_pos[dup]], size.astype(np.int64)
