"""From LSH bucket collisions to removals: connected components, keep order, verification.

Documents are numbered globally in input order (shard by shard). Band keys are shuffled
into partitions (``shuffle.py``) and one task per partition sorts its keys: documents next
to each other with the same (band, key) are an edge. Components of the edges come from
``scipy.sparse.csgraph.connected_components`` on the driver, which holds three numbers per
colliding document plus the edges (nothing for the others). Verification splits the
components into slices, one task each; a task loads the shingles and band keys of its
slice's documents only.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from winnow.stages.base import RunContext, ShardColumns, scratch_of
from winnow.stages.dedup.drops import drops_tables
from winnow.stages.dedup.shuffle import concat, read_partition, shuffle

MAX_KEPT_COMPARED = 100
"""A document is compared with at most this many kept documents that share a band with it
(the first in keep order)."""
VERIFY_DOCS = 200_000
"""Documents whose shingles are held at once during verification."""


class Verifier(Protocol):
    """Confirms candidate pairs; picklable, so verification tasks can run anywhere."""

    def load(
        self, shards: Sequence[ShardColumns], wanted: dict[int, np.ndarray]
    ) -> dict[tuple[int, int], tuple[np.ndarray, np.ndarray]]:
        """(shard, row) -> (the document's set members, its band keys)."""

    def similar(self, a: frozenset, b: frozenset) -> bool: ...


@dataclass
class Candidates:
    """The documents that collide with another (global numbers, ascending), their component
    and their keep rank (lower is kept first). Nothing is held for the other documents.
    Documents numbered below ``fixed`` (a reference corpus's) are kept first and always."""

    offsets: np.ndarray
    docs: np.ndarray
    labels: np.ndarray
    rank: np.ndarray
    fixed: int = 0

    @classmethod
    def from_band_keys(
        cls,
        run: RunContext,
        shards: Sequence[ShardColumns],
        bands: Sequence[str],
        present: str,
        fixed: int = 0,
    ) -> Candidates:
        """Documents (with ``present`` > 0) that share a key in any band are connected."""
        with scratch_of(run) as folder:
            keys = shuffle(run, shards, [(b,) for b in bands], folder, present=present)
            calls = [(keys.paths, p) for p in range(keys.parts)]
            edges = run.workers.map("collisions", collisions_in_partition, calls)
        u, v = (concat([e[i] for e in edges]) for i in range(2))
        docs, ends = np.unique(np.concatenate([u, v]), return_inverse=True)
        n = len(docs)
        graph = coo_matrix((np.ones(len(u), np.float32), (ends[: len(u)], ends[len(u) :])), (n, n))
        _, labels = connected_components(graph, directed=False)
        rank = np.arange(n, dtype=np.int64)
        return cls(keys.offsets, docs, labels.astype(np.int64), rank, fixed)

    def rank_by(self, shards: Sequence[ShardColumns], column: str) -> None:
        """Keep the highest ``column`` first; ties and missing values in input order."""
        score = np.where(self.docs < self.fixed, np.inf, -np.inf)
        shard = np.searchsorted(self.offsets, self.docs, side="right") - 1
        for s in np.unique(shard[self.docs >= self.fixed]):
            mine = shard == s
            rows = pa.array(self.docs[mine] - self.offsets[s])
            col = shards[int(s)]([column]).column(column).take(rows)
            score[mine] = pc.fill_null(pc.cast(col, pa.float64()), -np.inf).to_numpy()
        order = np.lexsort((self.docs, -score))
        self.rank = np.empty_like(order)
        self.rank[order] = np.arange(len(order))


def collisions_in_partition(paths: Sequence[str], part: int) -> tuple[np.ndarray, np.ndarray]:
    """Edges between documents next to each other in (band, key, document) order."""
    band, key, doc = read_partition(paths, part)
    order = np.lexsort((doc, key, band))
    band, key, doc = band[order], key[order], doc[order]
    same = (band[1:] == band[:-1]) & (key[1:] == key[:-1])
    return doc[:-1][same], doc[1:][same]


def near_duplicate_drops(
    run: RunContext,
    candidates: Candidates,
    shards: Sequence[ShardColumns],
    verifier: Verifier | None,
    reason: str,
) -> list[pa.Table]:
    """One drops table per shard: every removed document and the document it duplicates."""
    order = np.lexsort((candidates.rank, candidates.labels))
    members = candidates.docs[order]  # grouped by component, best to keep first
    group_start = np.nonzero(np.diff(candidates.labels[order], prepend=-1))[0]
    bounds = np.append(group_start, len(members))
    if verifier is None:
        first = np.repeat(members[bounds[:-1]], np.diff(bounds))
        dup = (members != first) & (members >= candidates.fixed)
        removed_all, kept_all = members[dup], first[dup]
    else:  # slices of whole components, several per worker
        limit = min(VERIFY_DOCS, max(1_000, math.ceil(len(members) / (4 * run.workers.count))))
        calls = [
            (
                shards,
                candidates.offsets,
                members[bounds[lo] : bounds[hi]],
                bounds[lo : hi + 1] - bounds[lo],
                verifier,
                candidates.fixed,
            )
            for lo, hi in _slices(bounds, limit)
        ]
        found = run.workers.map("verify", verify_components, calls)
        removed_all, kept_all = (concat([f[i] for f in found]) for i in range(2))
    _, which, counts = np.unique(kept_all, return_inverse=True, return_counts=True)
    cluster = counts[which] + 1  # the kept one included
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


def verify_components(
    shards: Sequence[ShardColumns],
    offsets: np.ndarray,
    chunk: np.ndarray,
    bounds: np.ndarray,
    verifier: Verifier,
    fixed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Within each component (``chunk[bounds[g]:bounds[g + 1]]``, in keep order), keep a
    document unless it is similar to a kept one it shares a band with (documents numbered
    below ``fixed``, a reference's, are kept whatever they are like)."""
    shard = np.searchsorted(offsets, chunk, side="right") - 1
    row = chunk - offsets[shard]
    wanted = {int(s): np.sort(row[shard == s]) for s in np.unique(shard)}
    loaded = verifier.load(shards, wanted)
    removed, kept_for = [], []
    for g in range(len(bounds) - 1):
        kept: list[tuple[int, frozenset]] = []
        sharing: dict[tuple[int, int], list[int]] = {}  # (band, key) -> kept positions
        for i in range(bounds[g], bounds[g + 1]):
            doc = int(chunk[i])
            members, keys = loaded[(int(shard[i]), int(row[i]))]
            mine = frozenset(members.tolist())
            bands = list(enumerate(keys.tolist()))
            if doc >= fixed:
                near = sorted({k for band in bands for k in sharing.get(band, ())})
                near = near[:MAX_KEPT_COMPARED]
                match = next((k for k in near if verifier.similar(mine, kept[k][1])), None)
                if match is not None:
                    removed.append(doc)
                    kept_for.append(kept[match][0])
                    continue
            for band in bands:  # only the first kept documents of a band are ever compared
                positions = sharing.setdefault(band, [])
                if len(positions) < MAX_KEPT_COMPARED:
                    positions.append(len(kept))
            kept.append((doc, mine))
    return np.array(removed, dtype=np.int64), np.array(kept_for, dtype=np.int64)
