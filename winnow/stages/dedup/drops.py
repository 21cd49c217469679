"""Per-shard drop tables from decisions made over the whole corpus (documents numbered
globally in input order, shard after shard)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa

from winnow.stages.base import DROPS_SCHEMA, ShardColumns

REFERENCE_SOURCE = "_ref_source"
"""The column of a reference corpus's shard that names each document's run or file."""


def drops_tables(
    shards: Sequence[ShardColumns],
    offsets: np.ndarray,
    removed: np.ndarray,
    reasons: Sequence[str],
    kept_for: np.ndarray,
    cluster: np.ndarray,
) -> list[pa.Table]:
    """One ``DROPS_SCHEMA`` table per shard. ``kept_for`` holds the global number of the
    document each removed one duplicates (-1: none); its id is looked up shard by shard, and
    its ``reference_source`` where its shard is a reference corpus's (``REFERENCE_SOURCE``)."""
    removed, kept_for = np.asarray(removed, np.int64), np.asarray(kept_for, np.int64)
    order = np.argsort(removed, kind="stable")  # by shard, then row: each shard's a range
    removed, kept_for, cluster = removed[order], kept_for[order], np.asarray(cluster)[order]
    has = kept_for >= 0
    ids, sources = _kept_columns(shards, offsets, kept_for, has)
    reasons = pa.array(reasons, pa.string()).take(pa.array(order))
    sizes = pa.array(cluster.astype(np.int64), mask=~has)
    bounds = np.searchsorted(removed, offsets)
    out = []
    for s in range(len(shards)):
        lo, hi = int(bounds[s]), int(bounds[s + 1])
        columns = [pa.array(removed[lo:hi] - offsets[s]), reasons[lo:hi], ids[lo:hi]]
        out.append(pa.table([*columns, sizes[lo:hi], sources[lo:hi]], schema=DROPS_SCHEMA))
    return out


def _kept_columns(
    shards: Sequence[ShardColumns], offsets: np.ndarray, kept_for: np.ndarray, has: np.ndarray
) -> tuple[pa.Array, pa.Array]:
    """The id of each kept document (null where ``has`` is False) and its
    ``REFERENCE_SOURCE`` where its shard has one, read shard by shard."""
    target_shard = np.searchsorted(offsets, kept_for, side="right") - 1
    at = np.full(len(kept_for), -1, dtype=np.int64)  # each one's row among the pieces read
    id_pieces, source_pieces, read = [], [], 0
    for s in np.unique(target_shard[has]).tolist():
        mine = np.flatnonzero(has & (target_shard == s))
        shard = shards[s]
        names = ["id", REFERENCE_SOURCE] if REFERENCE_SOURCE in shard.schema.names else ["id"]
        found = shard(names).take(pa.array(kept_for[mine] - offsets[s]))
        id_pieces.append(found.column("id").combine_chunks())
        source_pieces.append(
            found.column(REFERENCE_SOURCE).combine_chunks()
            if len(names) > 1
            else pa.nulls(len(mine), pa.string())
        )
        at[mine] = np.arange(read, read + len(mine))
        read += len(mine)
    where = pa.array(at, mask=at < 0)
    empty = pa.array([], pa.string())
    ids = pa.concat_arrays([empty, *id_pieces]).take(where)
    return ids, pa.concat_arrays([empty, *source_pieces]).take(where)
