"""``perplexity``: score documents with a Kneser-Ney n-gram language model of a reference
corpus and keep the most fluent, as CCNet (Wenzek et al. 2020) and POINTS (Liu et al.
2024, lowest-perplexity band) do.

The model is trained on ``target`` (5-grams, interpolated modified Kneser-Ney,
``winnow.models.ngram_lm``) and written in ARPA at ``model:`` (or in the run's ``artifacts/``
folder); ``model:`` alone loads an ARPA file (from winnow, KenLM's ``lmplz`` or SRILM).
A document's perplexity is CCNet's: ``10 ** (-sum log10 p / tokens)`` over its lines,
each closed by ``</s>``. Every document gets a CCNet bucket, ``head``/``middle``/``tail``,
split at ``cutoffs`` (default: the pool's perplexity terciles, as CCNet's per-language
33rd and 66th percentiles). Keep the lowest ``keep_fraction``/``keep_top_k``, everything
up to ``max_perplexity``, or whole ``buckets``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import pyarrow as pa
from pydantic import Field, model_validator

from winnow.models.ngram_lm import NgramLM
from winnow.stages.base import ExampleFiles, RunContext, ShardColumns, register, scratch_of
from winnow.stages.select.base import (
    ScoreSelector,
    SelectParams,
    model_file,
    score_shard,
    top,
)
from winnow.stages.select.targets import require_files, target_texts

BUCKETS = ("head", "middle", "tail")
BATCH = 4096


class PerplexityParams(SelectParams):
    target: str | list[str] | None = None
    """Reference documents to train the language model on."""
    model: str | None = None
    """An ARPA model to score with; with ``target``, where to write the trained one."""
    order: int = Field(5, ge=1, le=8)
    max_perplexity: float | None = Field(None, gt=0)
    buckets: tuple[Literal["head", "middle", "tail"], ...] | None = None
    cutoffs: tuple[float, float] | None = None
    """Perplexity bounds head|middle and middle|tail (default: the pool's terciles)."""

    @model_validator(mode="after")
    def _one_rule(self) -> PerplexityParams:
        if self.min_score is not None:
            raise ValueError("perplexity keeps the lowest: use max_perplexity, not min_score")
        rules = [self.keep_fraction, self.keep_top_k, self.max_perplexity, self.buckets]
        if sum(r is not None for r in rules) != 1:
            raise ValueError(
                "give exactly one of keep_fraction, keep_top_k, max_perplexity, buckets"
            )
        if self.target is None and self.model is None:
            raise ValueError("give target (to train a language model) or model (an ARPA file)")
        if self.target is None and not Path(self.model).is_file():
            raise ValueError(f"model: no such file {self.model!r}")
        if self.target is not None:
            require_files("target", self.target)
        return self


@register
class Perplexity(ScoreSelector):
    """Keep the documents a reference n-gram model finds least surprising."""

    name = "perplexity"
    ParamsModel = PerplexityParams
    reads = ("target",)

    @classmethod
    def files_read(cls, params: PerplexityParams) -> list[str | list[str]]:
        """Also ``model`` when it is reused (no ``target``), not when it is written."""
        reused = [params.model] if params.target is None and params.model else []
        return super().files_read(params) + reused
    summary = "Kneser-Ney n-gram perplexity against a reference corpus, CCNet buckets"
    origin = "CCNet (Wenzek et al. 2020); POINTS lowest-perplexity band (Liu et al. 2024)"
    decision_schema = pa.schema(
        [("score", pa.float64()), ("bucket", pa.string()), ("reason", pa.string())]
    )

    @classmethod
    def examples(cls, files: ExampleFiles) -> list[dict]:
        return [{"target": files.target, "keep_fraction": 0.5}]

    def map(self, batch: pa.RecordBatch) -> dict[str, pa.Array]:
        return {}  # reduce reads the text itself

    def reduce(self, shards: Sequence[ShardColumns], run: RunContext) -> list[pa.Table]:
        p = self.params
        lm = self.language_model(run.artifacts)
        with scratch_of(run) as folder:  # the exact model, for the workers
            path = str(lm.write_npz(folder / "model.npz"))
            calls = [(path, load, p.view) for load in shards]
            scores = run.workers.map("score perplexity", perplexities, calls)
        sizes = [len(s) for s in scores]
        ppl = np.concatenate(scores) if scores else np.zeros(0)
        finite = np.isfinite(ppl)
        if p.cutoffs is not None:
            low, high = p.cutoffs
        elif finite.any():
            low, high = np.quantile(ppl[finite], [1 / 3, 2 / 3])
        else:
            low = high = np.inf
        bucket = np.array(BUCKETS, dtype=object)[(ppl > low).astype(int) + (ppl > high)]
        if p.buckets is not None:
            chosen = np.isin(bucket, p.buckets)
        elif p.max_perplexity is not None:
            chosen = ppl <= p.max_perplexity
        else:
            chosen = top(-np.where(finite, ppl, np.inf), finite, p.how_many(len(ppl)))
        return self.decisions(ppl, chosen, sizes, bucket=bucket)

    def language_model(self, artifacts: Path | None = None) -> NgramLM:
        p = self.params
        if p.target is None:
            return NgramLM.read_arpa(p.model)
        texts = list(target_texts(p.target))
        if not any(t.strip() for t in texts):
            raise ValueError(f"target {p.target!r}: no text to train a language model on")
        lm = NgramLM.train(texts, order=p.order)
        if p.model is not None:
            lm.write_arpa(p.model)
        elif artifacts is not None:
            lm.write_arpa(artifacts / "model.arpa")
        return lm


def perplexities(path: str, load: ShardColumns, view: str) -> np.ndarray:
    """A worker's task: the perplexity of every document of one shard."""
    return score_shard(model_file(NgramLM.read_npz, path).perplexity, load, view, BATCH)
