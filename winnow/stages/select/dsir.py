"""DSIR: Data Selection with Importance Resampling (Xie et al. 2023), as the authors'
``data-selection`` package computes it.

Features: the lower-cased text split by NLTK's WordPunct rule (``\\w+|[^\\w\\s]+``, with
the ``regex`` engine's Unicode classes, as NLTK compiles it), its unigrams and bigrams
hashed into ``num_buckets`` buckets (sha256, as the package does; each distinct n-gram is
hashed once and remembered; compiled in ``dsir_ngrams``). A bag-of-n-grams model is
fitted on the target documents and on the pool; a document's log importance weight is
``sum(count_f * (log p_target(f) - log p_pool(f)))``. Selection keeps ``keep_fraction`` or
``keep_top_k`` documents by importance resampling (Gumbel top-k with ``seed``) or, with
``top_k: true``, by weight; ``min_score`` keeps every document at or above a weight.
Several target sets (``target`` a list, with ``target_weights``): each is fitted on its
own and resamples its share of the kept documents from those left, in turn; the
``dsir_target`` column names the set (its index) that chose a document.
Documents under ``min_tokens`` tokens are never selected (the package's
``min_example_length``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, model_validator

from winnow.chat.view import view_array
from winnow.stages.base import ExampleFiles, RunContext, ShardColumns, register
from winnow.stages.select.base import ScoreSelector, TargetParams, top
from winnow.stages.select.dsir_ngrams import NgramTables, row_sums
from winnow.stages.select.targets import target_texts


class DsirParams(TargetParams):
    top_k: bool = False
    """Keep the highest weights instead of resampling."""
    num_buckets: int = Field(10_000, ge=2)
    min_tokens: int = Field(0, ge=0)
    target_weights: list[float] | None = None
    """With a list of targets: each is its own target set, and this share of the kept
    documents is resampled toward each (default: all targets pooled into one set)."""

    @model_validator(mode="after")
    def _weights_per_target(self) -> DsirParams:
        if self.target_weights is None:
            return self
        if isinstance(self.target, str) or len(self.target) != len(self.target_weights):
            raise ValueError("target_weights needs a list of targets, one weight each")
        if min(self.target_weights) < 0 or sum(self.target_weights) <= 0:
            raise ValueError("target_weights must be non-negative with a positive sum")
        return self


@register
class Dsir(ScoreSelector):
    """Keep the documents most like the target, by hashed n-gram importance weights."""

    name = "dsir"
    ParamsModel = DsirParams
    reads = ("target",)
    summary = "importance resampling on hashed unigram+bigram features toward target sets"
    origin = "DSIR (Xie et al. 2023), features and weights as the data-selection package"
    signature_columns = ("_dsir_buckets",)
    decision_schema = pa.schema(
        [("score", pa.float64()), ("target", pa.int32()), ("reason", pa.string())]
    )

    @classmethod
    def examples(cls, files: ExampleFiles) -> list[dict]:
        return [{"target": files.target, "keep_fraction": 0.5}]

    def __init__(self, params=None) -> None:
        super().__init__(params)
        self._ngrams = NgramTables(self.params.num_buckets)

    def map(self, batch: pa.RecordBatch) -> dict[str, pa.Array]:
        buckets, per_text = self._ngrams.batch(view_array(batch, self.params.view))
        offsets = pa.array(np.concatenate([[0], np.cumsum(per_text)]).astype(np.int32))
        if self.params.num_buckets <= 1 << 16:  # half the bytes on scratch disk
            values = pa.array(buckets.astype(np.uint16), pa.uint16())
        else:
            values = pa.array(buckets, pa.int32())
        return {"_dsir_buckets": pa.ListArray.from_arrays(offsets, values)}

    def reduce(self, shards: Sequence[ShardColumns], run: RunContext) -> list[pa.Table]:
        p = self.params
        calls = [(load, p.num_buckets) for load in shards]
        counts = run.workers.map("dsir features", bucket_counts, calls)
        pool = np.sum(counts, axis=0) if counts else np.zeros(p.num_buckets, np.int64)
        log_pool = np.log(pool / max(pool.sum(), 1) + 1e-8)
        sets = [p.target] if p.target_weights is None else list(p.target)
        log_diffs = np.stack([self._log_target(t) - log_pool for t in sets], axis=1)
        calls = [(load, log_diffs, p.min_tokens) for load in shards]
        found = run.workers.map("dsir weights", log_weights, calls)
        scores = [f[0] for f in found]
        eligible = [f[1] for f in found]
        sizes = [len(f[1]) for f in found]
        score = np.concatenate(scores) if scores else np.zeros((0, len(sets)))
        eligible_all = np.concatenate(eligible) if eligible else np.zeros(0, bool)
        rng = np.random.Generator(np.random.PCG64(p.seed))
        chosen = np.zeros(len(score), dtype=bool)
        which = np.full(len(score), -1, dtype=np.int32)
        quotas = _quotas(
            p.target_weights or [1.0], p.how_many(len(score)) if p.min_score is None else 0
        )
        for t in range(len(sets)):  # each target set in turn, from the documents left
            noise = None if p.top_k else rng.gumbel(size=len(score))  # Gumbel top-k
            if p.min_score is not None:
                mine = eligible_all & ~chosen & (score[:, t] >= p.min_score)
            else:
                mine = top(score[:, t], eligible_all & ~chosen, quotas[t], noise)
            chosen |= mine
            which[mine] = t
        best = score.max(axis=1) if len(sets) else np.zeros(len(score))
        shown = np.where(which >= 0, score[np.arange(len(score)), np.maximum(which, 0)], best)
        target = np.where(which >= 0, which, None)  # the set that chose it; null if none
        return self.decisions(shown, chosen, sizes, target=target)

    def _log_target(self, target: str | list[str]) -> np.ndarray:
        """log p_target of every bucket, fitted on the documents of ``target``."""
        counts = np.zeros(self.params.num_buckets, dtype=np.int64)
        texts = list(target_texts(target))
        for i in range(0, len(texts), 4096):
            grams, _ = self._ngrams.batch(pa.array(texts[i : i + 4096], pa.large_string()))
            counts += np.bincount(grams, minlength=self.params.num_buckets)
        return np.log(counts / max(counts.sum(), 1) + 1e-8)


def bucket_counts(load: ShardColumns, num_buckets: int) -> np.ndarray:
    """How often each feature bucket occurs in one shard."""
    buckets = load(["_dsir_buckets"]).column(0).combine_chunks()
    return np.bincount(pc.list_flatten(buckets).to_numpy(), minlength=num_buckets)


def log_weights(
    load: ShardColumns, log_diffs: np.ndarray, min_tokens: int
) -> tuple[np.ndarray, np.ndarray]:
    """One shard's log importance weights (documents x target sets) and which documents
    are long enough to be selected."""
    buckets = load(["_dsir_buckets"]).column(0).combine_chunks()
    offsets = buckets.offsets.to_numpy().astype(np.int64)
    weights = row_sums(buckets.values.to_numpy(), offsets, np.ascontiguousarray(log_diffs))
    eligible = (np.diff(offsets) + 1) // 2 >= min_tokens  # tokens: (unigrams + bigrams + 1) / 2
    return weights, eligible


def _quotas(weights: list[float], total: int) -> list[int]:
    """``total`` split by ``weights``, rounded so the parts add up (largest remainders)."""
    share = np.array(weights, dtype=np.float64) / sum(weights) * total
    quota = np.floor(share).astype(int)
    quota[np.argsort(-(share - quota), kind="stable")[: total - quota.sum()]] += 1
    return quota.tolist()
