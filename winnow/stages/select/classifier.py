"""``quality_classifier``: score documents with a fastText classifier, P(positive), as the
DCLM baseline filter does (Li et al. 2024, "DataComp-LM"), and keep the best.

Train one from ``positives`` (reference documents: a path, glob or list) against
``negatives`` (files, or by default as many documents of the pool as there are
positives, a seeded random sample) with fastText's algorithm (word bigrams, softmax,
seeded: the same inputs give the same model; ``winnow.models.fasttext_train``). The model
is saved as fastText .bin at ``model:`` (or in the run's ``artifacts/`` folder) and a later
recipe scores with it by naming ``model:`` alone; any fastText classifier works, ``label``
names its positive class (DCLM's OH-2.5 + ELI5 model: ``label: hq``). Scoring runs winnow's numpy
fastText (``winnow.models.fasttext``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
from pydantic import Field, model_validator

from winnow.models.fasttext import FastTextModel
from winnow.models.fasttext_train import POSITIVE, train_classifier
from winnow.stages.base import ExampleFiles, RunContext, ShardColumns, register, scratch_of
from winnow.stages.select.base import (
    ScoreSelector,
    SelectParams,
    fetch_texts,
    model_file,
    score_shard,
)
from winnow.stages.select.targets import require_files, target_texts

BATCH = 8192


class ClassifierParams(SelectParams):
    positives: str | list[str] | None = None
    negatives: str | list[str] | None = None
    """Default: a seeded random sample of the pool, as many as the positives."""
    model: str | None = None
    """A fastText model to score with; when ``positives`` are given, where to save the
    trained one."""
    label: str = POSITIVE
    max_examples: int = Field(100_000, ge=1)
    """At most this many training examples per class (a seeded sample)."""
    dim: int = Field(32, ge=1)
    epochs: int = Field(5, ge=1)
    lr: float = Field(0.5, gt=0)
    word_ngrams: int = Field(2, ge=1)
    bucket: int = Field(200_000, ge=1)
    min_count: int = Field(1, ge=1)

    @model_validator(mode="after")
    def _model_or_examples(self) -> ClassifierParams:
        if self.positives is None and self.model is None:
            raise ValueError("give positives (to train a classifier) or model (to use one)")
        if self.positives is None and not Path(self.model).is_file():
            raise ValueError(f"model: no such file {self.model!r}")
        for name in ("positives", "negatives"):
            if getattr(self, name) is not None:
                require_files(name, getattr(self, name))
        return self


@register
class QualityClassifier(ScoreSelector):
    """Keep the documents a fastText classifier finds most like the positive examples."""

    name = "quality_classifier"
    ParamsModel = ClassifierParams
    reads = ("positives", "negatives")

    @classmethod
    def files_read(cls, params: ClassifierParams) -> list[str | list[str]]:
        """Also ``model`` when it is reused (no ``positives``), not when it is written."""
        reused = [params.model] if params.positives is None and params.model else []
        return super().files_read(params) + reused
    summary = "fastText classifier P(positive), trained on reference vs pool documents"
    origin = "DCLM fastText filter (Li et al. 2024); FineWeb-Edu-style classifier filtering"

    @classmethod
    def examples(cls, files: ExampleFiles) -> list[dict]:
        return [{"positives": files.target, "keep_fraction": 0.5}]

    def map(self, batch: pa.RecordBatch) -> dict[str, pa.Array]:
        return {}  # reduce reads the text itself

    def reduce(self, shards: Sequence[ShardColumns], run: RunContext) -> list[pa.Table]:
        p = self.params
        with scratch_of(run) as folder:
            path = Path(p.model) if p.model is not None else None
            if p.positives is not None:
                if path is None:
                    path = (run.artifacts or folder) / "model.bin"
                self.train(shards, path)
            FastTextModel(path)  # fails here, once, if the file is not a fastText model
            calls = [(str(path), load, p.view, p.label) for load in shards]
            scores = run.workers.map("score quality_classifier", probabilities, calls)
        sizes = [len(s) for s in scores]
        score = np.concatenate(scores).astype(np.float64) if scores else np.zeros(0)
        return self.decisions(score, self.choose(score), sizes)

    def train(self, shards: Sequence[ShardColumns], path: Path) -> None:
        p = self.params
        rng = np.random.Generator(np.random.PCG64(p.seed))
        positives = _sample(list(target_texts(p.positives)), p.max_examples, rng)
        if not positives:
            raise ValueError(f"positives {p.positives!r}: no documents to train on")
        if p.negatives is not None:
            negatives = _sample(list(target_texts(p.negatives)), p.max_examples, rng)
        else:
            negatives = _pool_sample(shards, min(len(positives), p.max_examples), p.view, rng)
        train_classifier(
            positives,
            negatives,
            path,
            seed=p.seed,
            dim=p.dim,
            epoch=p.epochs,
            lr=p.lr,
            word_ngrams=p.word_ngrams,
            bucket=p.bucket,
            min_count=p.min_count,
        )


def _sample(texts: list[str], k: int, rng: np.random.Generator) -> list[str]:
    if len(texts) <= k:
        return texts
    return [texts[i] for i in np.sort(rng.choice(len(texts), k, replace=False))]


def _pool_sample(
    shards: Sequence[ShardColumns], k: int, view: str, rng: np.random.Generator
) -> list[str]:
    """``k`` documents of the pool, a seeded uniform sample (same for any sharding)."""
    total = sum(load.rows for load in shards)
    return fetch_texts(shards, np.sort(rng.choice(total, min(k, total), replace=False)), view)


def probabilities(path: str, load: ShardColumns, view: str, label: str) -> np.ndarray:
    """A worker's task: P(label) of every document of one shard."""
    model = model_file(FastTextModel, path)
    return score_shard(lambda texts: model.probability(texts, label), load, view, BATCH)
