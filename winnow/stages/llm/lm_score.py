"""``lm_score``: scores from a local causal language model's token probabilities, as
attributes for a filter or a selector (data-juicer style: computed here, decided by
``field_filter`` or ``mix``):

- ``lm_perplexity``: exp of the mean negative log-likelihood of the tokens after the first;
- ``lm_min_k``: Min-K% Prob, the mean log-probability of the ``k`` fraction of tokens the
  model finds least likely (Shi et al. 2024, "Detecting Pretraining Data"): higher means
  the text is more likely to have been trained on;
- ``lm_zlib_ratio``: log-perplexity over the zlib-compressed size of the text in bytes
  (Carlini et al. 2021, "Extracting Training Data");
- ``lm_ifd`` (chat records): instruction-following difficulty, the mean loss of the
  responses given the prompt over their mean loss alone (Li et al. 2024, "From Quantity to
  Quality"); null for plain documents;
- with ``reference_model``: ``lm_reference_ratio``, the two models' cross-entropies per
  UTF-8 byte divided (Carlini et al.'s reference-model ratio), and ``lm_ce_difference``, their
  difference, model minus reference (Moore & Lewis 2010). Per byte, so models with different
  tokenizers compare.

Texts are scored on their first ``max_length`` tokens (the bytes those tokens cover count
for the per-byte measures). ``pip install 'winnow[llm]'``."""

from __future__ import annotations

import math
import zlib
from pathlib import Path
from typing import Literal

import numpy as np
import pyarrow as pa
from pydantic import Field, model_validator

from winnow.chat.view import text_view
from winnow.stages.base import ExampleFiles, Params, RowResult, RowStage, put_column, register
from winnow.stages.llm.requests import LOCAL_MODEL_EXTRAS

Metric = Literal["perplexity", "ifd", "min_k", "zlib_ratio"]


class LMScoreParams(Params):
    model: str
    """A local causal LM directory (Hugging Face ``transformers``)."""
    metrics: list[Metric] = ["perplexity", "min_k", "zlib_ratio", "ifd"]
    k: float = Field(0.2, gt=0, le=1)
    """Min-K% Prob's fraction of tokens (Shi et al. use 0.2)."""
    reference_model: str | None = None
    max_length: int = Field(1024, ge=2)
    batch_size: int = Field(16, ge=1)
    device: Literal["auto", "cpu", "cuda"] = "auto"

    @model_validator(mode="after")
    def _models_exist(self) -> LMScoreParams:
        for name in ("model", "reference_model"):
            path = getattr(self, name)
            if path is not None and not Path(path).is_dir():
                raise ValueError(f"{name}: no model directory {path!r} (nothing is downloaded)")
        return self


def min_k(logprobs: np.ndarray, k: float) -> float:
    """Mean of the lowest ``ceil(k * n)`` token log-probabilities."""
    if not len(logprobs):
        return math.nan
    m = max(1, math.ceil(k * len(logprobs)))
    return float(np.mean(np.sort(logprobs)[:m]))


@register
class LMScore(RowStage):
    """Perplexity, Min-K% Prob, zlib ratio, IFD and reference-model scores from a local LM."""

    name = "lm_score"
    ParamsModel = LMScoreParams
    reads = ("model", "reference_model")
    summary = "local causal LM scores: perplexity, Min-K% Prob, zlib ratio, IFD, reference ratios"
    origin = (
        "Min-K% Prob (Shi et al. 2024); zlib and reference ratios (Carlini et al. 2021); IFD "
        "(Li et al. 2024); cross-entropy difference (Moore & Lewis 2010)"
    )

    @classmethod
    def extras(cls, params: Params) -> list[tuple[str, str]]:
        return LOCAL_MODEL_EXTRAS

    @classmethod
    def examples(cls, files: ExampleFiles) -> list[dict]:
        return []  # needs a model directory: tests/test_llm_stages.py builds one

    def process(self, batch: pa.RecordBatch) -> RowResult:
        from winnow.llm.local import local_model

        p = self.params
        lm = local_model(p.model, p.device)
        texts = text_view(batch, "text")
        scored = _scores(lm, texts, p.max_length, p.batch_size)
        columns: dict[str, list] = {}
        if "perplexity" in p.metrics:
            columns["lm_perplexity"] = [math.exp(s.nll) if s.n else None for s in scored]
        if "min_k" in p.metrics:
            columns["lm_min_k"] = [min_k(s.logprobs, p.k) if s.n else None for s in scored]
        if "zlib_ratio" in p.metrics:
            columns["lm_zlib_ratio"] = [
                s.nll / len(zlib.compress(t.encode("utf-8", "surrogatepass"))) if s.n else None
                for s, t in zip(scored, texts)
            ]
        if "ifd" in p.metrics:
            columns["lm_ifd"] = _ifd(lm, batch, p.max_length, p.batch_size)
        if p.reference_model is not None:
            ref = _scores(local_model(p.reference_model, p.device), texts, p.max_length,
                          p.batch_size)  # fmt: skip
            ratio, diff = [], []
            for s, r in zip(scored, ref):
                ok = s.n and r.n and r.nll_sum > 0
                mine, theirs = (s.nll_sum / s.nbytes, r.nll_sum / r.nbytes) if ok else (0, 0)
                ratio.append(mine / theirs if ok else None)
                diff.append(mine - theirs if ok else None)
            columns["lm_reference_ratio"], columns["lm_ce_difference"] = ratio, diff
        for name, values in columns.items():
            batch = put_column(batch, name, pa.array(values, pa.float64()))
        return RowResult(batch)


class _Scored:
    __slots__ = ("logprobs", "n", "nll", "nll_sum", "nbytes")

    def __init__(self, logprobs: np.ndarray, nbytes: int) -> None:
        self.logprobs, self.n = logprobs, len(logprobs)
        self.nll_sum = float(-logprobs.sum()) if self.n else 0.0
        self.nll = self.nll_sum / self.n if self.n else math.nan
        self.nbytes = max(1, nbytes)


def _scores(lm, texts: list[str], max_length: int, batch: int) -> list[_Scored]:
    if not texts:
        return []
    enc = lm.tokenizer(texts, truncation=True, max_length=max_length, return_offsets_mapping=True)
    rows = [list(x) for x in enc["input_ids"]]
    out = []
    for text, offsets, lp in zip(texts, enc["offset_mapping"], lm.logprobs(rows, batch)):
        end = max((e for _, e in offsets), default=0)
        out.append(_Scored(lp, len(text[:end].encode("utf-8", "surrogatepass"))))
    return out


def _ifd(lm, batch: pa.RecordBatch, max_length: int, size: int) -> list[float | None]:
    """IFD of each chat record (None for plain documents or one side empty)."""
    prompts, responses = text_view(batch, "prompt"), text_view(batch, "response")
    chat = (
        batch.column("messages").is_valid().to_pylist()
        if "messages" in batch.schema.names
        else [False] * batch.num_rows
    )
    which = [i for i, (c, q, a) in enumerate(zip(chat, prompts, responses)) if c and q and a]
    out: list[float | None] = [None] * batch.num_rows
    if not which:
        return out
    tok = lm.tokenizer
    bos = [tok.bos_token_id] if tok.bos_token_id is not None else []
    questions = tok([prompts[i] for i in which])["input_ids"]
    answers = tok([responses[i] for i in which], add_special_tokens=False)["input_ids"]
    joint, alone, spans = [], [], []
    for q_ids, a_ids in zip(questions, answers):
        a_ids = list(a_ids[: max_length - 1])
        joint.append(list(q_ids[-max(1, max_length - len(a_ids)) :]) + a_ids)
        alone.append(bos + a_ids)
        spans.append(len(a_ids))
    given = lm.logprobs(joint, size)
    plain = lm.logprobs(alone, size)
    for i, g, p, n in zip(which, given, plain, spans):
        uncond = -p[-n:].mean() if len(p) else math.nan
        out[i] = float(-g[-n:].mean() / uncond) if len(p) and uncond > 0 else None
    return out
