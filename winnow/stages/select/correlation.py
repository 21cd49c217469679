"""Selection by how a document's loss tracks benchmark skill across models of different
quality: ``perplexity_correlation`` (Thrush et al. 2024, "Improving Pretraining Data Using
Perplexity Correlations") and ``preselect`` (Shum et al. 2025, "Predictive Data Selection").

Both need, per document, the loss of several models, and each model's benchmark score
(higher is better). Either give them, ``loss_columns`` (per-document losses already in
the data, e.g. from ``winnow evaluate`` proxy models) with ``benchmark`` (one score per
column), or give a ``target`` and winnow builds ``proxies`` n-gram models (Kneser-Ney,
``order``) of different quality for the target: each is trained on ``proxy_docs`` pool
documents drawn with its own seeded Dirichlet mix over k-means clusters of the pool, its
benchmark is minus its mean loss (log perplexity) on the target documents.

- ``perplexity_correlation`` scores a document by the Spearman rank correlation, across
  the models, between minus its loss and the benchmark (the paper's estimator is a rank
  statistic of the same sign); keep the highest.
- ``preselect`` scores a document by its predictive strength, the fraction of model
  pairs its losses order as the benchmark does (concordant pairs), takes the top and the
  bottom ``positive_fraction`` as positives and negatives, trains a fastText classifier
  on them and keeps the documents the classifier rates highest: a cheap scorer that
  generalises beyond the documents the models saw.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import orjson
import pyarrow as pa
from pydantic import Field, model_validator

from winnow.models.clustering import even_sample
from winnow.models.embeddings import embedder
from winnow.models.fasttext_train import train_classifier
from winnow.models.ngram_lm import NgramLM
from winnow.stages.base import ExampleFiles, RunContext, ShardColumns, register, scratch_of
from winnow.stages.select.base import ScoreSelector, SelectParams, fetch_texts, shard_texts
from winnow.stages.select.classifier import probabilities
from winnow.stages.select.targets import require_files, target_texts

BATCH = 4096


class CorrelationParams(SelectParams):
    loss_columns: list[str] | None = None
    benchmark: list[float] | None = None
    """One score per loss column (higher: the better model)."""
    target: str | list[str] | None = None
    proxies: int = Field(8, ge=3)
    proxy_docs: int = Field(500, ge=10)
    order: int = Field(3, ge=1, le=8)
    clusters: int = Field(8, ge=1)

    @model_validator(mode="after")
    def _losses_or_target(self) -> CorrelationParams:
        if (self.loss_columns is None) == (self.target is None):
            raise ValueError("give loss_columns with benchmark, or a target (n-gram proxies)")
        if self.loss_columns is not None:
            if self.benchmark is None or len(self.benchmark) != len(self.loss_columns):
                raise ValueError("benchmark needs one score per loss column")
            if len(self.loss_columns) < 3:
                raise ValueError("a correlation needs the losses of at least 3 models")
        else:
            require_files("target", self.target)
        return self


class _LossSelector(ScoreSelector):
    reads = ("target",)

    def map(self, batch: pa.RecordBatch) -> dict[str, pa.Array]:
        return {}  # reduce reads the losses or the text itself

    def losses(
        self, shards: Sequence[ShardColumns], run: RunContext
    ) -> tuple[np.ndarray, np.ndarray, list]:
        """(documents x models loss matrix, benchmark per model, shard sizes)."""
        p = self.params
        if p.loss_columns is not None:
            parts = [_loss_matrix(_loss_table(load, p.loss_columns), p.loss_columns)
                     for load in shards]  # fmt: skip
            matrix = np.concatenate(parts) if parts else np.zeros((0, len(p.loss_columns)))
            return matrix, np.array(p.benchmark), [len(m) for m in parts]
        return (*self._proxy_losses(shards, run), [load.rows for load in shards])

    def _proxy_losses(
        self, shards: Sequence[ShardColumns], run: RunContext
    ) -> tuple[np.ndarray, np.ndarray]:
        """Proxy n-gram models of different quality and every document's loss under each,
        scored shard by shard on the workers: memory holds the proxies' training documents
        and a documents x proxies matrix, not the pool."""
        p = self.params
        rng = np.random.Generator(np.random.PCG64(p.seed))
        total = sum(load.rows for load in shards)
        if not total:
            return np.zeros((0, p.proxies)), np.zeros(p.proxies)
        labels = self._pool_clusters(shards, total, run)
        chosen = []
        for _ in range(p.proxies):  # each proxy's seeded mix over the clusters
            weight = rng.dirichlet(np.ones(labels.max() + 1))[labels]
            chosen.append(np.sort(rng.choice(total, min(p.proxy_docs, total), replace=False,
                                             p=weight / weight.sum())))  # fmt: skip
        union = np.unique(np.concatenate(chosen))
        texts = fetch_texts(shards, union, p.view)
        target = list(target_texts(p.target))
        benchmark = np.zeros(p.proxies)
        with scratch_of(run) as scratch:
            paths = []
            for m, rows in enumerate(chosen):
                lm = NgramLM.train([texts[i] for i in np.searchsorted(union, rows)], order=p.order)
                benchmark[m] = -np.log(_finite(lm.perplexity(target))).mean()
                paths.append(str(lm.write_npz(scratch / f"proxy-{m}.npz")))
            calls = [(paths, load, p.view) for load in shards]
            parts = run.workers.map(f"score {self.name} proxies", proxy_losses, calls)
        return np.concatenate(parts), benchmark

    def _pool_clusters(
        self, shards: Sequence[ShardColumns], total: int, run: RunContext
    ) -> np.ndarray:
        """k-means of the pool's static embeddings, fitted on an evenly spaced sample; every
        shard assigned on the workers."""
        from sklearn.cluster import KMeans

        p = self.params
        sample = embedder("static")(fetch_texts(shards, even_sample(total), p.view))
        model = KMeans(n_clusters=min(p.clusters, total), n_init=1, max_iter=100,
                       random_state=p.seed).fit(sample)  # fmt: skip
        calls = [(model, load, p.view) for load in shards]
        return np.concatenate(run.workers.map(f"{self.name} clusters", pool_clusters, calls))


def pool_clusters(model, load: ShardColumns, view: str) -> np.ndarray:
    """A worker's task: the k-means cluster of every document of one shard."""
    vectors = embedder("static")(shard_texts(load, view))
    return np.concatenate(
        [model.predict(vectors[i : i + 100_000]) for i in range(0, len(vectors), 100_000)]
    ).astype(np.int64)


def proxy_losses(paths: list[str], load: ShardColumns, view: str) -> np.ndarray:
    """A worker's task: the log perplexity of every document of one shard under each proxy."""
    texts = shard_texts(load, view)
    out = np.zeros((len(texts), len(paths)))
    for m, path in enumerate(paths):
        lm = NgramLM.read_npz(path)
        for i in range(0, len(texts), BATCH):
            out[i : i + BATCH, m] = np.log(_finite(lm.perplexity(texts[i : i + BATCH])))
    return out


def _loss_table(load: ShardColumns, columns: list[str]) -> pa.Table:
    """The loss columns a shard has, and ``meta`` for those it lacks."""
    names = load.schema.names
    have = [c for c in columns if c in names]
    return load(have + (["meta"] if len(have) < len(columns) else []))


def _loss_matrix(table: pa.Table, columns: list[str]) -> np.ndarray:
    """Documents x models: each loss column of the table, or else that field of each
    document's ``meta`` (input fields winnow does not know, e.g. ``winnow evaluate``'s
    doc_losses.jsonl); a missing loss is the column's mean."""
    meta = None
    out = np.zeros((table.num_rows, len(columns)))
    for k, name in enumerate(columns):
        if name in table.schema.names:
            values = table.column(name).to_numpy(zero_copy_only=False).astype(np.float64)
        else:
            if meta is None:
                meta = [orjson.loads(m) if m else {} for m in table.column("meta").to_pylist()]
            values = np.array([_number(m.get(name)) for m in meta], dtype=np.float64)
        if np.isnan(values).all():
            raise ValueError(f"no document has the loss column {name!r}")
        out[:, k] = np.where(np.isnan(values), np.nanmean(values), values)
    return out


def _number(value) -> float:
    return float(value) if isinstance(value, (int, float)) else float("nan")


def _finite(ppl: np.ndarray) -> np.ndarray:
    """Empty documents (infinite perplexity) get the worst finite value."""
    finite = np.isfinite(ppl)
    return np.where(finite, ppl, ppl[finite].max() if finite.any() else 1.0)


@register
class PerplexityCorrelation(_LossSelector):
    """Keep the documents whose loss falls as the models' benchmark score rises."""

    name = "perplexity_correlation"
    ParamsModel = CorrelationParams
    summary = "rank correlation across models between document loss and benchmark score"
    origin = "Thrush et al. 2024, Improving Pretraining Data Using Perplexity Correlations"

    @classmethod
    def examples(cls, files: ExampleFiles) -> list[dict]:
        return [{"target": files.target, "proxies": 3, "proxy_docs": 10, "keep_fraction": 0.5}]

    def reduce(self, shards: Sequence[ShardColumns], run: RunContext) -> list[pa.Table]:
        matrix, benchmark, sizes = self.losses(shards, run)
        score = spearman(-matrix, benchmark)
        return self.decisions(score, self.choose(score), sizes)


class PreselectParams(CorrelationParams):
    positive_fraction: float = Field(0.1, gt=0, lt=0.5)
    """Top (positives) and bottom (negatives) share by predictive strength."""
    model: str | None = None
    """Where to save the fastText scorer (default: the run's artifacts/ folder)."""


@register
class Preselect(_LossSelector):
    """Keep the documents a fastText scorer, trained on the documents whose losses best
    predict benchmark skill, rates highest."""

    name = "preselect"
    ParamsModel = PreselectParams
    summary = "fastText scorer trained on documents by predictive strength of their loss"
    origin = "PreSelect (Shum et al. 2025, Predictive Data Selection)"

    @classmethod
    def examples(cls, files: ExampleFiles) -> list[dict]:
        return [{"target": files.target, "proxies": 3, "proxy_docs": 10, "keep_fraction": 0.5}]

    def reduce(self, shards: Sequence[ShardColumns], run: RunContext) -> list[pa.Table]:
        p = self.params
        matrix, benchmark, sizes = self.losses(shards, run)
        strength = predictive_strength(matrix, benchmark)
        total = len(strength)
        k = max(1, round(p.positive_fraction * total))
        order = np.lexsort((np.arange(total), -strength))
        positives = fetch_texts(shards, np.sort(order[:k]), p.view)
        negatives = fetch_texts(shards, np.sort(order[-k:]), p.view)
        with scratch_of(run) as scratch:
            folder = run.artifacts or scratch
            path = Path(p.model) if p.model is not None else folder / "model.bin"
            train_classifier(positives, negatives, path, seed=p.seed)
            calls = [(str(path), load, p.view, "pos") for load in shards]
            scores = run.workers.map("score preselect", probabilities, calls)
        score = np.concatenate(scores).astype(np.float64) if scores else np.zeros(0)
        return self.decisions(score, self.choose(score), sizes)


def spearman(values: np.ndarray, benchmark: np.ndarray) -> np.ndarray:
    """Per row of ``values`` (documents x models): Spearman's correlation with
    ``benchmark`` across the models (0 where a row is constant)."""
    from scipy.stats import rankdata  # scipy.stats takes 0.5 s to import: only when used

    if not len(values):
        return np.zeros(0)
    ranks = rankdata(values, axis=1)
    ranks -= ranks.mean(axis=1, keepdims=True)
    bench = rankdata(benchmark) - (len(benchmark) + 1) / 2
    norm = np.linalg.norm(ranks, axis=1) * np.linalg.norm(bench)
    return np.divide(ranks @ bench, norm, out=np.zeros(len(values)), where=norm > 0)


def predictive_strength(losses: np.ndarray, benchmark: np.ndarray) -> np.ndarray:
    """PreSelect's predictive strength of each document: the fraction of model pairs with
    different benchmark scores whose losses on the document are ordered the same way (the
    better model has the lower loss)."""
    better = np.sign(benchmark[:, None] - benchmark[None, :])[None]  # i better than k
    pairs = max(int((better > 0).sum()), 1)
    out = np.zeros(len(losses))
    for i in range(0, len(losses), 65536):
        part = losses[i : i + 65536]
        lower = np.sign(part[:, None, :] - part[:, :, None])  # [d, i, k]: loss_k - loss_i
        out[i : i + 65536] = ((lower == better) & (better > 0)).sum(axis=(1, 2)) / pairs
    return out
