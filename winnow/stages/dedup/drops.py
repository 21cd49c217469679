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
    ids = np.full(len(removed), None, dtype=object)
    sources = np.full(len(removed), None, dtype=object)
    has = kept_for >= 0
    target_shard = np.searchsorted(offsets, kept_for, side="right") - 1
    for s in np.unique(target_shard[has]):
        mine = has & (target_shard == s)
        rows = pa.array(kept_for[mine] - offsets[s])
        shard = shards[int(s)]
        names = ["id", REFERENCE_SOURCE] if REFERENCE_SOURCE in shard.schema.names else ["id"]
        found = shard(names).take(rows)
        ids[mine] = found.column("id").to_pylist()
        if len(names) > 1:
            sources[mine] = found.column(REFERENCE_SOURCE).to_pylist()
    shard = np.searchsorted(offsets, removed, side="right") - 1
    reasons = np.asarray(reasons, dtype=object)
    out = []
    for s in range(len(shards)):
        mine = np.nonzero(shard == s)[0]
        mine = mine[np.argsort(removed[mine], kind="stable")]
        sizes = [int(c) if h else None for c, h in zip(cluster[mine], has[mine])]
        out.append(
            pa.table(
                [
                    pa.array(removed[mine] - offsets[s], pa.int64()),
                    pa.array(reasons[mine].tolist(), pa.string()),
                    pa.array(ids[mine].tolist(), pa.string()),
                    pa.array(sizes, pa.int64()),
                    pa.array(sources[mine].tolist(), pa.string()),
                ],
                schema=DROPS_SCHEMA,
            )
        )
    return out
