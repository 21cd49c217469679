"""From LSH bucket collisions to removals: connected components, keep order, verification.

Documents are numbered globally in input order (shard by shard). Collisions in a band are
found by sorting that band's keys, one band at a time, so memory grows with the number of
documents, not with the number of bands times documents; components come from
``scipy.sparse.csgraph.connected_components``. Verification loads the shingles of the
documents of a slice of components at a time, so it is bounded too.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from winnow.stages.base import ShardColumns
from winnow.stages.dedup.drops import drops_tables

MAX_KEPT_COMPARED = 100
"""A document is compared with at most this many kept documents that share a band with it
(the first in keep order)."""
VERIFY_DOCS = 200_000
"""Documents whose shingles are held at once during verification."""

Loader = Callable[[dict[int, np.ndarray]], dict[tuple[int, int], np.ndarray]]
Verifier = tuple[Loader, Callable[[frozenset, frozenset], bool]]


@dataclass
class Candidates:
    """Component label and keep rank of every document (global input order)."""

    offsets: np.ndarray
    labels: np.ndarray
    rank: np.ndarray
    keys: np.ndarray
    """Band keys (documents x bands): verification compares a document with the kept
    documents it shares a band with."""

    @classmethod
    def from_band_keys(
        cls, shards: Sequence[ShardColumns], bands: Sequence[str], present: str
    ) -> Candidates:
        sizes = [load([present]).num_rows for load in shards]
        offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        total = int(offsets[-1])
        has = np.concatenate(
            [load([present]).column(present).to_numpy() > 0 for load in shards] or [[]]
        ).astype(bool)
        usable = np.nonzero(has)[0]
        u_parts, v_parts = [], []
        all_keys = np.zeros((total, len(bands)), dtype=np.uint64)
        for b, band in enumerate(bands):
            all_keys[:, b] = np.concatenate(
                [load([band]).column(band).to_numpy() for load in shards] or [[]]
            )
            keys = all_keys[usable, b]
            order = np.argsort(keys, kind="stable")
            same = keys[order[1:]] == keys[order[:-1]]
            u_parts.append(usable[order[:-1][same]])
            v_parts.append(usable[order[1:][same]])
        u = np.concatenate(u_parts) if u_parts else np.zeros(0, np.int64)
        v = np.concatenate(v_parts) if v_parts else np.zeros(0, np.int64)
        graph = coo_matrix((np.ones(len(u), np.int8), (u, v)), shape=(total, total))
        _, labels = connected_components(graph, directed=False)
        rank = np.arange(total, dtype=np.int64)
        return cls(offsets, labels.astype(np.int64), rank, all_keys)

    def rank_by(self, shards: Sequence[ShardColumns], column: str) -> None:
        """Keep the highest ``column`` first; ties and missing values in input order."""
        values = []
        for load in shards:
            col = load([column]).column(column)
            values.append(pc.fill_null(pc.cast(col, pa.float64()), -np.inf).to_numpy())
        score = np.concatenate(values) if values else np.zeros(0)
        order = np.lexsort((np.arange(len(score)), -score))
        self.rank = np.empty_like(order)
        self.rank[order] = np.arange(len(order))

    def locate(self, docs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(shard, row) of global document numbers."""
        shard = np.searchsorted(self.offsets, docs, side="right") - 1
        return shard, docs - self.offsets[shard]


def near_duplicate_drops(
    candidates: Candidates,
    shards: Sequence[ShardColumns],
    similar: Verifier | None,
    reason: str,
) -> list[pa.Table]:
    """One drops table per shard: every removed document and the document it duplicates."""
    labels = candidates.labels
    sizes = np.bincount(labels) if len(labels) else np.zeros(0, np.int64)
    members = np.nonzero(sizes[labels] > 1)[0]
    order = np.lexsort((candidates.rank[members], labels[members]))
    members = members[order]  # grouped by component, best to keep first
    group_start = np.nonzero(np.diff(labels[members], prepend=-1))[0]
    bounds = np.append(group_start, len(members))
    removed: list[np.ndarray] = []
    kept_for: list[np.ndarray] = []
    if similar is None:
        first = np.repeat(members[bounds[:-1]], np.diff(bounds))
        dup = members != first
        removed.append(members[dup])
        kept_for.append(first[dup])
    else:
        for lo, hi in _slices(bounds, VERIFY_DOCS):
            chunk = members[bounds[lo] : bounds[hi]]
            r, k = _verify(candidates, chunk, bounds[lo : hi + 1] - bounds[lo], similar)
            removed.append(r)
            kept_for.append(k)
    removed_all = np.concatenate(removed) if removed else np.zeros(0, np.int64)
    kept_all = np.concatenate(kept_for) if kept_for else np.zeros(0, np.int64)
    cluster = np.bincount(kept_all, minlength=len(labels))[kept_all] + 1  # kept one included
    reasons = [reason] * len(removed_all)
    return drops_tables(shards, candidates.offsets, removed_all, reasons, kept_all, cluster)


def _slices(bounds: np.ndarray, limit: int):
    """Consecutive runs of components holding about ``limit`` documents each."""
    lo = 0
    groups = len(bounds) - 1
    while lo < groups:
        hi = int(np.searchsorted(bounds, bounds[lo] + limit, side="right")) - 1
        hi = min(max(hi, lo + 1), groups)
        yield lo, hi
        lo = hi


def _verify(candidates, chunk, bounds, similar: Verifier) -> tuple[np.ndarray, np.ndarray]:
    load, is_similar = similar
    shard, row = candidates.locate(chunk)
    wanted = {int(s): np.sort(row[shard == s]) for s in np.unique(shard)}
    shingles = load(wanted)
    removed, kept_for = [], []
    band_keys = candidates.keys[chunk].tolist()
    for g in range(len(bounds) - 1):
        kept: list[tuple[int, frozenset]] = []
        sharing: dict[tuple[int, int], list[int]] = {}  # (band, key) -> kept positions
        for i in range(bounds[g], bounds[g + 1]):
            doc = int(chunk[i])
            mine = frozenset(shingles[(int(shard[i]), int(row[i]))].tolist())
            bands = list(enumerate(band_keys[i]))
            near = sorted({k for band in bands for k in sharing.get(band, ())})
            for k in near[:MAX_KEPT_COMPARED]:
                if is_similar(mine, kept[k][1]):
                    removed.append(doc)
                    kept_for.append(kept[k][0])
                    break
            else:
                for band in bands:
                    sharing.setdefault(band, []).append(len(kept))
                kept.append((doc, mine))
    return np.array(removed, dtype=np.int64), np.array(kept_for, dtype=np.int64)
