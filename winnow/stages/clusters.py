"""Clusters of a corpus that need not fit in memory (``semantic_dedup``, ``diversity``):
k-means fitted on an evenly spaced sample of the documents' embeddings (read shard by
shard), then every shard assigned on the workers, its embeddings optionally written to
bucket files by cluster, so that each bucket's clusters are processed by one task with only
their members in memory."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow.compute as pc

from winnow.models.clustering import even_sample
from winnow.stages.base import ShardColumns

BUCKET_BYTES = 256 << 20
"""Embedding bytes one bucket task holds, at most about."""


def shard_matrix(load: ShardColumns, column: str, dim: int) -> np.ndarray:
    """One shard's embeddings as a (documents x dim) float32 matrix."""
    values = load([column]).column(0).combine_chunks()
    return pc.list_flatten(values).to_numpy().reshape(-1, dim)


def fit_kmeans(shards: Sequence[ShardColumns], column: str, dim: int, k: int, seed: int):
    """Seeded k-means on the evenly spaced sample of every shard's embeddings."""
    from sklearn.cluster import KMeans

    sizes = [load.rows for load in shards]
    chosen, parts, start = even_sample(sum(sizes)), [], 0
    for load, size in zip(shards, sizes):
        lo, hi = np.searchsorted(chosen, [start, start + size])
        if hi > lo:
            parts.append(shard_matrix(load, column, dim)[chosen[lo:hi] - start])
        start += size
    model = KMeans(n_clusters=k, n_init=1, max_iter=100, random_state=seed)
    return model.fit(np.concatenate(parts))


def bucket_count(total: int, dim: int, k: int, workers: int) -> int:
    return max(1, min(k, max(2 * workers, math.ceil(total * dim * 4 / BUCKET_BYTES))))


def assign_shard(
    model, load: ShardColumns, column: str, dim: int, offset: int,
    buckets: int = 0, folder: str | None = None, shard: int = 0,
) -> np.ndarray:  # fmt: skip
    """A worker's task: the cluster of every document of one shard; with ``folder``, also
    each bucket's documents (global row numbers and embeddings) of this shard written there
    (cluster ``c`` is in bucket ``c % buckets``)."""
    vectors = shard_matrix(load, column, dim)
    parts = [model.predict(vectors[i : i + 100_000]) for i in range(0, len(vectors), 100_000)]
    labels = np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, np.int64)
    if folder is not None:
        rows = np.arange(offset, offset + len(labels), dtype=np.int64)
        for b in range(buckets):
            mine = labels % buckets == b
            stem = Path(folder) / f"bucket-{b:05d}-shard-{shard:05d}"
            np.save(f"{stem}-rows.npy", rows[mine])
            np.save(f"{stem}-labels.npy", labels[mine])
            np.save(f"{stem}-vectors.npy", vectors[mine])
    return labels


def read_bucket(folder: str, bucket: int, shards: int) -> tuple[np.ndarray, ...]:
    """A bucket's (global rows, labels, embeddings), in input order."""
    stems = [Path(folder) / f"bucket-{bucket:05d}-shard-{s:05d}" for s in range(shards)]
    rows, labels, vectors = (
        np.concatenate([np.load(f"{stem}-{kind}.npy", allow_pickle=False) for stem in stems])
        for kind in ("rows", "labels", "vectors")
    )
    return rows, labels, vectors
