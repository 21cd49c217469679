"""``distil``: learn a language model's grades (``annotate_score``, or any score column or
field) on the annotated sample with a small model, report its held-out agreement, then score
every document on every worker and keep by ``min_score``, ``keep_fraction`` or
``keep_top_k`` (FineWeb-Edu: embeddings plus a linear regression head, kept at 3; Penedo
et al. 2024). Backends: ``static`` (the bundled static embeddings, 64 dimensions),
``minilm`` (all-MiniLM-L6-v2, ``winnow[minilm]``) with a ridge head, both predicting the
grade; ``fasttext`` (winnow's fastText trainer), predicting P(grade >= ``threshold``).

The held-out split (``holdout``, seeded) is scored before the final model is fitted on every
annotated document: Spearman, Pearson, mean absolute error, and precision, recall and F1 of
"grade >= threshold" go to ``artifacts/NN-distil/evaluation.json``. ``model:`` names where
the model is saved (JSON for a head, fastText .bin), or, when the file exists, the model to
score with (no annotations needed)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import orjson
import pyarrow as pa
from pydantic import Field

from winnow.chat.view import text_view
from winnow.fields import MISSING, FieldReader
from winnow.models.embeddings import embedder
from winnow.stages.base import ExampleFiles, Params, RunContext, ShardColumns, register, scratch_of
from winnow.stages.select.base import ScoreSelector, SelectParams, model_file, score_shard

BATCH = 4096
FORMAT = "winnow-distil-head"


class DistilParams(SelectParams):
    column: str = "annotate_score"
    """The grades to learn: a column or a field path (``meta.grade``); documents without
    one are not in the training set."""
    backend: Literal["static", "minilm", "fasttext"] = "static"
    threshold: float = 3.0
    """Where a grade counts as good: F1 is reported there, and ``fasttext`` learns it."""
    model: str | None = None
    holdout: float = Field(0.2, ge=0, lt=1)
    alpha: float = Field(1.0, gt=0)
    """The ridge head's L2 penalty."""
    max_examples: int = Field(200_000, ge=2)


@register
class Distil(ScoreSelector):
    """Distil annotations into a fast classifier that scores every document."""

    name = "distil"
    ParamsModel = DistilParams
    summary = "a small model learns annotate's grades, scores every document, keeps the best"
    origin = "FineWeb-Edu classifier (Penedo et al. 2024)"

    @classmethod
    def extras(cls, params: Params) -> list[tuple[str, str]]:
        return [("sentence_transformers", "minilm")] if params.backend == "minilm" else []

    @classmethod
    def files_read(cls, params: DistilParams) -> list[str | list[str]]:
        return [params.model] if params.model and Path(params.model).exists() else []

    example_before = (("token_count", {}),)

    @classmethod
    def examples(cls, files: ExampleFiles) -> list[dict]:
        return [{"column": "token_estimate", "keep_fraction": 0.5, "holdout": 0.25}]

    def map(self, batch: pa.RecordBatch) -> dict[str, pa.Array]:
        return {}

    def reduce(self, shards: Sequence[ShardColumns], run: RunContext) -> list[pa.Table]:
        p = self.params
        with scratch_of(run) as folder:
            path = Path(p.model) if p.model else (run.artifacts or folder) / self._file_name()
            if not (p.model and path.exists()):
                texts, grades = self._annotated(shards)
                if len(grades) < 2:
                    raise ValueError(f"distil: fewer than 2 documents have {p.column!r} to learn")
                report = self._evaluate(texts, grades)
                path.parent.mkdir(parents=True, exist_ok=True)
                self._fit(texts, grades, path)
                if run.artifacts is not None:
                    run.artifacts.mkdir(parents=True, exist_ok=True)
                    (run.artifacts / "evaluation.json").write_bytes(
                        orjson.dumps(report, option=orjson.OPT_INDENT_2)
                    )
            calls = [(str(path), p.backend, load, p.view) for load in shards]
            scores = run.workers.map("score distil", distil_scores, calls)
        sizes = [len(s) for s in scores]
        score = np.concatenate(scores) if scores else np.zeros(0)
        return self.decisions(score, self.choose(score), sizes)

    def _file_name(self) -> str:
        return "model.bin" if self.params.backend == "fasttext" else "model.json"

    def _annotated(self, shards: Sequence[ShardColumns]) -> tuple[list[str], np.ndarray]:
        """The texts and grades of the documents that have one (a seeded sample of at most
        ``max_examples``), in corpus order."""
        texts, grades = [], []
        for load in shards:
            names = [c for c in ("text", "messages", "meta", self.params.column)
                     if c in load.schema.names]  # fmt: skip
            for batch in load.batches(names):
                values = FieldReader(batch).values(self.params.column)
                keep = [i for i, v in enumerate(values) if _number(v) is not None]
                if keep:
                    chosen = text_view(batch.take(pa.array(keep)), self.params.view)
                    texts += chosen
                    grades += [_number(values[i]) for i in keep]
        grades = np.array(grades, dtype=np.float64)
        if len(grades) > self.params.max_examples:
            rng = np.random.Generator(np.random.PCG64(self.params.seed))
            pick = np.sort(rng.choice(len(grades), self.params.max_examples, replace=False))
            texts, grades = [texts[i] for i in pick], grades[pick]
        return texts, grades

    def _evaluate(self, texts: list[str], grades: np.ndarray) -> dict:
        p = self.params
        rng = np.random.Generator(np.random.PCG64(p.seed))
        n_test = int(round(p.holdout * len(grades)))
        report = {"column": p.column, "backend": p.backend, "annotated": len(grades),
                  "threshold": p.threshold}  # fmt: skip
        if n_test < 2 or len(grades) - n_test < 2:
            return report | {"held_out": 0}
        test = np.zeros(len(grades), dtype=bool)
        test[rng.choice(len(grades), n_test, replace=False)] = True
        with scratch_of(RunContext()) as folder:
            path = folder / self._file_name()
            train_texts = [t for t, held in zip(texts, test) if not held]
            self._fit(train_texts, grades[~test], path)
            predicted = _predict(str(path), p.backend, [t for t, h in zip(texts, test) if h])
        return report | {"held_out": n_test, **agreement(grades[test], predicted, p)}

    def _fit(self, texts: list[str], grades: np.ndarray, path: Path) -> None:
        p = self.params
        if p.backend == "fasttext":
            from winnow.models.fasttext_train import train_classifier

            good = grades >= p.threshold
            positives = [t for t, g in zip(texts, good) if g]
            negatives = [t for t, g in zip(texts, good) if not g]
            if not positives or not negatives:
                raise ValueError(f"distil: every grade is on one side of threshold {p.threshold}")
            train_classifier(positives, negatives, path, seed=p.seed)
            return
        from sklearn.linear_model import Ridge

        x = _embed(p.backend, texts)
        head = Ridge(alpha=p.alpha).fit(x, grades)
        body = {"format": FORMAT, "version": 1, "backend": p.backend, "column": p.column,
                "weights": head.coef_.tolist(), "bias": float(head.intercept_)}  # fmt: skip
        path.write_bytes(orjson.dumps(body))


def _number(value) -> float | None:
    if value is MISSING or value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if np.isfinite(number) else None


def _embed(backend: str, texts: list[str]) -> np.ndarray:
    embed = embedder(backend)
    parts = [embed(texts[i : i + BATCH]) for i in range(0, len(texts), BATCH)]
    return np.concatenate(parts).astype(np.float64) if parts else np.zeros((0, 1))


def _read_head(path: str) -> dict:
    try:
        head = orjson.loads(Path(path).read_bytes())
    except orjson.JSONDecodeError as err:
        raise ValueError(f"{path}: not a distil model ({err})") from err
    if not isinstance(head, dict) or head.get("format") != FORMAT:
        raise ValueError(f"{path}: not a distil model (format {FORMAT!r} expected)")
    return head


def _predict(path: str, backend: str, texts: list[str]) -> np.ndarray:
    if backend == "fasttext":
        from winnow.models.fasttext import FastTextModel
        from winnow.models.fasttext_train import POSITIVE

        model = model_file(FastTextModel, path)
        return np.asarray(model.probability(texts, POSITIVE), dtype=np.float64)
    head = model_file(_read_head, path)
    if head["backend"] != backend:
        raise ValueError(f"{path}: a {head['backend']} model, not {backend}")
    return _embed(backend, texts) @ np.asarray(head["weights"]) + head["bias"]


def distil_scores(path: str, backend: str, load: ShardColumns, view: str) -> np.ndarray:
    """A worker's task: the model's score of every document of one shard, ``BATCH`` texts
    at a time (the classifier's arrays stay in cache)."""
    return score_shard(lambda texts: _predict(path, backend, texts), load, view, BATCH)


def agreement(truth: np.ndarray, predicted: np.ndarray, p: DistilParams) -> dict:
    """How the held-out predictions agree with the annotations."""
    from scipy.stats import pearsonr, spearmanr

    good = truth >= p.threshold
    cut = 0.5 if p.backend == "fasttext" else p.threshold
    said = predicted >= cut
    tp = int((good & said).sum())
    precision = tp / max(1, int(said.sum()))
    recall = tp / max(1, int(good.sum()))
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    constant = np.ptp(predicted) == 0 or np.ptp(truth) == 0
    return {
        "spearman": None if constant else float(spearmanr(truth, predicted).statistic),
        "pearson": None if constant else float(pearsonr(truth, predicted).statistic),
        "mae": None if p.backend == "fasttext" else float(np.mean(np.abs(truth - predicted))),
        "precision": precision,
        "recall": recall,
        "f1": f1,
    }
