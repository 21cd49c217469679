"""Global "keep the first occurrence of each key" reduce, bucketed to bound memory.

Keys are 128-bit hashes stored as two uint64 signature columns. Rows are bucketed by the
high word so that at most about ``bucket_rows`` keys are sorted at once; within a bucket a
lexicographic sort by (key, shard, row) puts the first occurrence in input order first.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pyarrow as pa

from winnow.stages.base import DROPS_SCHEMA, ShardColumns


def first_occurrence(
    shards: Sequence[ShardColumns],
    hi_col: str,
    lo_col: str,
    reason: str,
    bucket_rows: int = 4_000_000,
) -> list[pa.Table]:
    """Drop every row whose key appeared earlier in input order; name the first row's id."""
    total = sum(load([hi_col]).num_rows for load in shards)
    buckets = max(1, math.ceil(total / bucket_rows))
    drop_rows: list[list[np.ndarray]] = [[] for _ in shards]
    first_at: list[list[np.ndarray]] = [[] for _ in shards]
    group_sizes: list[list[np.ndarray]] = [[] for _ in shards]
    for bucket in range(buckets):
        his, los, shard_ix, rows = [], [], [], []
        for s, load in enumerate(shards):
            table = load([hi_col, lo_col])
            hi = table.column(hi_col).to_numpy()
            lo = table.column(lo_col).to_numpy()
            sel = (
                np.nonzero(hi % np.uint64(buckets) == bucket)[0]
                if buckets > 1
                else np.arange(len(hi))
            )
            his.append(hi[sel])
            los.append(lo[sel])
            shard_ix.append(np.full(len(sel), s, dtype=np.int64))
            rows.append(sel.astype(np.int64))
        hi, lo = np.concatenate(his), np.concatenate(los)
        shard, row = np.concatenate(shard_ix), np.concatenate(rows)
        order = np.lexsort((row, shard, lo, hi))
        hi, lo, shard, row = hi[order], lo[order], shard[order], row[order]
        is_first = np.ones(len(hi), dtype=bool)
        is_first[1:] = (hi[1:] != hi[:-1]) | (lo[1:] != lo[:-1])
        first_pos = np.maximum.accumulate(np.where(is_first, np.arange(len(hi)), 0))
        dup = np.nonzero(~is_first)[0]
        group = np.cumsum(is_first) - 1
        size = np.bincount(group)[group[dup]] if len(group) else np.zeros(0, np.int64)
        # global reference to the first row: shard * 2**40 + row
        ref = shard[first_pos[dup]] * (1 << 40) + row[first_pos[dup]]
        for s in np.unique(shard[dup]):
            mine = shard[dup] == s
            drop_rows[s].append(row[dup][mine])
            first_at[s].append(ref[mine])
            group_sizes[s].append(size[mine])
    return _with_first_ids(shards, drop_rows, first_at, group_sizes, reason)


def _with_first_ids(shards, drop_rows, first_at, group_sizes, reason) -> list[pa.Table]:
    per_shard_rows = [np.concatenate(r) if r else np.zeros(0, np.int64) for r in drop_rows]
    per_shard_refs = [np.concatenate(r) if r else np.zeros(0, np.int64) for r in first_at]
    per_shard_sizes = [np.concatenate(r) if r else np.zeros(0, np.int64) for r in group_sizes]
    all_refs = np.concatenate(per_shard_refs) if per_shard_refs else np.zeros(0, np.int64)
    id_of: dict[int, str] = {}
    for target in np.unique(all_refs >> 40):
        wanted = np.unique(all_refs[(all_refs >> 40) == target]) & ((1 << 40) - 1)
        ids = shards[int(target)](["id"]).column("id").take(pa.array(wanted)).to_pylist()
        base = int(target) << 40
        id_of.update({base + int(r): i for r, i in zip(wanted, ids)})
    out = []
    for rows, refs, sizes in zip(per_shard_rows, per_shard_refs, per_shard_sizes):
        order = np.argsort(rows, kind="stable")
        out.append(
            pa.table(
                [
                    pa.array(rows[order], pa.int64()),
                    pa.array([reason] * len(rows), pa.string()),
                    pa.array([id_of[int(r)] for r in refs[order]], pa.string()),
                    pa.array(sizes[order], pa.int64()),
                ],
                schema=DROPS_SCHEMA,
            )
        )
    return out
