"""From LSH bucket collisions to removals: connected components, keep order, verification.

Documents are numbered globally in input order (shard by shard). Band keys are shuffled
into partitions (``shuffle.py``) and one task per partition sorts its keys: documents next
to each other with the same (band, key) are an edge. Components of the edges come from
``scipy.sparse.csgraph.connected_components`` on the driver, which holds the edges, three
numbers per colliding document and, while it numbers them, a flag and a number per document.
Verification splits the components into slices, one task each; a task loads the shingles and
band keys of its slice's documents only.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numba import njit

from winnow.sorting import stable_argsort, unique_inverse
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

    threshold: float
    """Jaccard similarity of two documents' sets at which one duplicates the other."""

    def load(
        self, shards: Sequence[ShardColumns], shard: np.ndarray, row: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """For documents ``(shard[i], row[i])``: their distinct set members, ascending,
        each document's together (flat, in any order of documents); where document ``i``'s
        members start and end; and the documents' band keys (documents x bands)."""


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
        from scipy.sparse import coo_matrix  # imported when needed: 0.15 s at start-up
        from scipy.sparse.csgraph import connected_components

        with scratch_of(run) as folder:
            keys = shuffle(run, shards, [(b,) for b in bands], folder, present=present)
            calls = [(keys.paths, p) for p in range(keys.parts)]
            edges = run.workers.map("collisions", collisions_in_partition, calls)
        u, v = (concat([e[i] for e in edges]) for i in range(2))
        colliding = np.zeros(int(keys.offsets[-1]), dtype=bool)  # one flag per document
        colliding[u] = colliding[v] = True
        docs = np.flatnonzero(colliding)
        number = np.cumsum(colliding) - 1  # a colliding document's place among them
        n = len(docs)
        graph = coo_matrix((np.ones(len(u), np.float32), (number[u], number[v])), (n, n))
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
    """Edges between documents next to each other in (band, key) order: the documents that
    share a band's key are a chain, so a component holds them all whatever their order."""
    return _adjacent_collisions(*read_partition(paths, part))


def _adjacent_collisions(
    band: np.ndarray, key: np.ndarray, doc: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    order = stable_argsort(key)  # one sort of the keys; bands are apart unless keys collide
    u, v, bands_meet = _chain_edges(order, band, key, doc)
    if bands_meet:  # a key in two bands
        u, v, _ = _chain_edges(np.lexsort((key, band)), band, key, doc)
    return u, v


@njit(cache=True)
def _chain_edges(order, band, key, doc):
    """Edges between documents next to each other in ``order`` with the same band and key,
    and whether two neighbours share a key but not its band."""
    u = np.empty(max(len(order) - 1, 0), dtype=doc.dtype)
    v = np.empty_like(u)
    edges, bands_meet = 0, False
    for i in range(1, len(order)):
        p, q = order[i - 1], order[i]
        if key[p] == key[q]:
            if band[p] == band[q]:
                u[edges], v[edges] = doc[p], doc[q]
                edges += 1
            else:
                bands_meet = True
    return u[:edges].copy(), v[:edges].copy(), bands_meet


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
    _, which = unique_inverse(kept_all)
    cluster = np.bincount(which)[which] + 1  # the kept one included
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
    members, starts, ends, keys = verifier.load(shards, shard, chunk - offsets[shard])
    sizes = np.diff(bounds)
    large = np.repeat(sizes > MAX_KEPT_COMPARED, sizes)
    slot_row = np.cumsum(large) - 1  # a large component's document: its row of ``slots``
    slots, capacity = _band_slots(keys[large])
    removed, kept_for = _verify(
        chunk, bounds, members, starts, ends, keys, slots, slot_row, capacity, fixed,
        verifier.threshold, MAX_KEPT_COMPARED,
    )  # fmt: skip
    return removed, kept_for


def _band_slots(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A number for each distinct (band, key) of the documents (documents x bands), and
    how many kept documents each can list: the documents holding it, at most
    ``MAX_KEPT_COMPARED``."""
    slots = np.empty(keys.shape, dtype=np.int64)
    counts, first = [], 0
    for band in range(keys.shape[1]):  # a sort per band, its slots numbered after the last
        distinct, inverse = unique_inverse(keys[:, band])
        slots[:, band] = inverse + first
        counts.append(np.bincount(inverse, minlength=len(distinct)))
        first += len(distinct)
    capacity = np.concatenate(counts) if counts else np.zeros(0, np.int64)
    return slots, np.minimum(capacity, MAX_KEPT_COMPARED)


BUCKET_BITS = 6
"""Each set's members counted in 2**6 ranges of their top bits (``_bucket_counts``)."""


@njit(cache=True)
def _bucket_counts(members, starts, ends):
    """How many of each document's members fall in each of ``2**BUCKET_BITS`` equal ranges
    of values (documents x ranges; saturating at 255)."""
    counts = np.zeros((len(starts), 1 << BUCKET_BITS), dtype=np.uint8)
    shift = members.itemsize * 8 - BUCKET_BITS
    for d in range(len(starts)):
        for t in range(starts[d], ends[d]):
            bucket = members[t] >> shift
            if counts[d, bucket] < 255:
                counts[d, bucket] += 1
    return counts


@njit(cache=True)
def _similar(members, starts, ends, counts, p, q, threshold):
    """Jaccard similarity of documents ``p`` and ``q``'s sorted sets at ``threshold``: not
    there when the smaller set is under ``threshold`` times the larger (the similarity is at
    most their ratio), nor when the members they could share, range by range of values
    (``counts``: the smaller count of each range; exact while the smaller set has under 255
    members), are too few; otherwise the merge stops once the members left cannot bring it
    there."""
    i, a_end, j, b_end = starts[p], ends[p], starts[q], ends[q]
    size = (a_end - i) + (b_end - j)
    smaller, larger = min(a_end - i, b_end - j), max(a_end - i, b_end - j)
    if smaller == 0 or smaller < threshold * larger:
        return False
    if smaller < 255:
        most = 0
        for bucket in range(counts.shape[1]):
            most += min(counts[p, bucket], counts[q, bucket])
        if most < threshold * (size - most):
            return False
    common = 0
    while i < a_end and j < b_end:
        if members[i] == members[j]:
            common += 1
            i += 1
            j += 1
            continue
        if members[i] < members[j]:
            i += 1
        else:
            j += 1
        best = common + min(a_end - i, b_end - j)
        if best < threshold * (size - best):
            return False
    return common >= threshold * (size - common)


@njit(cache=True, inline="always")
def _first_similar_kept(members, starts, ends, counts, keys, kept, i, threshold):
    """The first of ``kept`` (a small component's kept documents, in keep order) that
    shares a band key with document ``i`` and is similar to it; -1 if none."""
    for k in kept:
        for b in range(keys.shape[1]):
            if keys[i, b] == keys[k, b]:
                if _similar(members, starts, ends, counts, i, k, threshold):
                    return k
                break
    return -1


@njit(cache=True, inline="always")
def _first_similar_listed(
    members, starts, ends, counts, listed, head, stop, i, threshold, max_compared
):  # fmt: skip
    """The first similar to document ``i`` of the kept documents in its slots' lists
    (``listed[head[b]:stop[b]]`` per band), the lists merged in keep order, each kept one
    compared once, at most ``max_compared``; -1 if none."""
    past = len(starts)
    for _ in range(max_compared):
        k = past
        for b in range(len(head)):
            if head[b] < stop[b] and listed[head[b]] < k:
                k = listed[head[b]]
        if k == past:
            return -1
        for b in range(len(head)):
            if head[b] < stop[b] and listed[head[b]] == k:
                head[b] += 1
        if _similar(members, starts, ends, counts, i, k, threshold):
            return k
    return -1


@njit(cache=True)
def _verify(
    chunk, bounds, members, starts, ends, keys, slots, slot_row, capacity, fixed, threshold,
    max_compared,
):  # fmt: skip
    """Each component in keep order: a document (not a fixed one) is compared with the kept
    documents it shares a band with, first kept first, at most ``max_compared``; the first
    similar one is the one it duplicates. A component of at most ``max_compared`` documents
    finds them among its kept ones directly (its band keys side by side); a larger one
    through lists of the kept documents of each (band, key) slot (``_band_slots``)."""
    start = np.zeros(len(capacity) + 1, dtype=np.int64)
    start[1:] = np.cumsum(capacity)
    listed = np.empty(start[-1], dtype=np.int64)  # kept documents per slot, in keep order
    count = np.zeros(len(capacity), dtype=np.int64)
    removed = np.empty(len(chunk), dtype=np.int64)
    kept_for = np.empty(len(chunk), dtype=np.int64)
    bands = keys.shape[1]
    head = np.empty(bands, dtype=np.int64)  # where each slot's list is read next
    stop = np.empty(bands, dtype=np.int64)
    kept = np.empty(max_compared, dtype=np.int64)  # a small component's kept documents
    counts = _bucket_counts(members, starts, ends)
    n_removed = 0
    for g in range(len(bounds) - 1):
        small = bounds[g + 1] - bounds[g] <= max_compared
        n_kept = 0
        for i in range(bounds[g], bounds[g + 1]):
            match = -1
            if chunk[i] >= fixed and small:
                match = _first_similar_kept(
                    members, starts, ends, counts, keys, kept[:n_kept], i, threshold
                )
            elif chunk[i] >= fixed:
                row = slots[slot_row[i]]
                for b in range(bands):
                    head[b], stop[b] = start[row[b]], start[row[b]] + count[row[b]]
                match = _first_similar_listed(
                    members, starts, ends, counts, listed, head, stop, i, threshold, max_compared
                )
            if match >= 0:
                removed[n_removed] = chunk[i]
                kept_for[n_removed] = chunk[match]
                n_removed += 1
            elif small:
                kept[n_kept] = i
                n_kept += 1
            else:
                for s in slots[slot_row[i]]:
                    if count[s] < capacity[s]:
                        listed[start[s] + count[s]] = i
                        count[s] += 1
    return removed[:n_removed].copy(), kept_for[:n_removed].copy()
