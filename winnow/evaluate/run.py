"""``winnow evaluate SPEC``: train the same small proxy model on each candidate dataset for
the same number of tokens and compare their losses on a target set (and any other
evaluation sets), over several seeds.

Spec (YAML or a dict)::

    candidates: {random: out/random, dsir: out/dsir, heuristic: recipes/heuristic.yaml}
    target: data/target/*.jsonl       # held-out documents of the target domain
    eval_sets: {manuals: data/man.jsonl}
    tokens: 2000000                   # training tokens per candidate (UTF-8 bytes)
    seeds: [0, 1]
    model: {kind: transformer, layers: 2, d_model: 128, context: 128}
    output: eval/

A candidate is a winnow output folder, a recipe (run first, into
``output/candidates/NAME``), or documents in any input format. A run folder with a ``mix``
stream or ``pack`` sequences is trained in that order, repeats included (``winnow.evaluate.
candidates``; ``{path, order: stream | pack | shuffled}`` picks one), its documents otherwise,
shuffled per seed. ``model: {schedule: wsd}`` trains with warmup-stable-decay instead of
cosine. Results go to ``output/results.json`` (per candidate and evaluation set: ``loss`` =
mean over seeds, ``loss_std``; ``phase_loss``, every set's loss where each later phase of a
mix stream begins; ``tokens_to_reference_loss``, the tokens its target loss curve needs to
reach the ``reference`` candidate's final target loss, per seed and their mean and spread;
``tokens``, ``seconds``) and ``output/loss.svg`` (target loss against tokens).
"""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path
from typing import Literal

import numpy as np
import orjson
import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from winnow.evaluate.candidates import Order, load_candidate
from winnow.evaluate.plot import loss_plot
from winnow.evaluate.proxy import (
    ModelSpec,
    byte_stream,
    document_losses,
    document_starts,
    train_ngram,
    train_transformer,
)
from winnow.extras import require
from winnow.stages.select.targets import target_records, target_texts


class ModelParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["transformer", "ngram"] = "transformer"
    layers: int = Field(2, ge=1)
    d_model: int = Field(128, ge=8)
    heads: int = Field(4, ge=1)
    context: int = Field(128, ge=8)
    batch: int = Field(16, ge=1)
    lr: float = Field(3e-3, gt=0)
    order: int = Field(3, ge=1)
    threads: int = Field(1, ge=1)
    """Torch threads (one is fastest for these small models on CPU)."""
    eval_points: int = Field(8, ge=1)
    schedule: Literal["cosine", "wsd"] = "cosine"
    """Learning rate after warmup: cosine to zero, or warmup-stable-decay."""
    decay: float = Field(0.2, gt=0, le=1)
    """``wsd``: the fraction of steps that cool down (1 - sqrt; Hägele et al. 2024)."""


class CandidateEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: str
    order: Order = "auto"
    """``stream`` (a run's mix stream, in order), ``pack`` (its packed sequences, in order),
    ``shuffled`` (its documents, shuffled per seed), ``auto``: the first a run has."""


class EvaluateSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    candidates: dict[str, str | CandidateEntry]
    reference: str | None = None
    """The candidate whose final target loss the others are measured against (tokens to
    reach it); default the first."""
    target: str | list[str]
    eval_sets: dict[str, str | list[str]] = {}
    tokens: int = Field(2_000_000, ge=1000)
    eval_tokens: int = Field(200_000, ge=1000)
    """At most this many tokens of each evaluation set."""
    seeds: list[int] = [0]
    model: ModelParams = ModelParams()
    output: str
    doc_losses: str | list[str] | None = None
    """Documents to score with each candidate's model (first seed): written to
    ``output/doc_losses.jsonl`` (a ``loss_NAME`` field per candidate) with
    ``output/benchmark.json`` (minus each model's target loss), the inputs of
    ``perplexity_correlation`` and ``preselect``."""


    @model_validator(mode="after")
    def _known_reference(self) -> EvaluateSpec:
        if self.reference is not None and self.reference not in self.candidates:
            raise ValueError(f"reference: {self.reference!r} is not one of the candidates")
        return self


def load_spec(spec: str | Path | dict) -> EvaluateSpec:
    if not isinstance(spec, dict):
        with open(spec, encoding="utf-8") as fh:
            spec = yaml.safe_load(fh)
    return EvaluateSpec.model_validate(spec)


def evaluate(spec: EvaluateSpec | dict | str | Path, progress=print) -> dict:
    require("torch", "evaluate", "winnow evaluate (its proxy models)")
    spec = spec if isinstance(spec, EvaluateSpec) else load_spec(spec)
    output = Path(spec.output)
    output.mkdir(parents=True, exist_ok=True)
    model = ModelSpec(**spec.model.model_dump())
    eval_texts = {"target": list(target_texts(spec.target))}
    eval_texts |= {name: list(target_texts(p)) for name, p in spec.eval_sets.items()}
    evals = {name: byte_stream(texts, spec.eval_tokens) for name, texts in eval_texts.items()}
    results: dict[str, dict] = {}
    scored = list(target_records(spec.doc_losses)) if spec.doc_losses is not None else []
    doc_losses: dict[str, np.ndarray] = {}
    seed_curves: dict[str, list] = {}
    for name, entry in spec.candidates.items():
        entry = entry if isinstance(entry, CandidateEntry) else CandidateEntry(path=entry)
        candidate = load_candidate(name, entry.path, entry.order, output)
        texts = candidate.texts
        runs = []
        for seed in spec.seeds:
            if candidate.ordered:
                in_order = texts
            else:
                order = np.random.Generator(np.random.PCG64(seed)).permutation(len(texts))
                in_order = [texts[i] for i in order]
            if model.kind == "ngram":
                runs.append(train_ngram(in_order, eval_texts, model, spec.tokens))
            else:
                stream = byte_stream(in_order, None if candidate.ordered else spec.tokens)
                if len(stream) < spec.tokens:
                    again = " (trained from its start again)" if candidate.ordered else ""
                    progress(f"{name}: only {len(stream):,} tokens (< {spec.tokens:,}){again}")
                starts = document_starts(in_order) if candidate.phases else []
                bounds = tuple(int(starts[i]) for i in candidate.phases)
                runs.append(train_transformer(stream, evals, model, seed, spec.tokens,
                                              candidate.ordered, bounds))  # fmt: skip
            progress(f"{name} seed {seed}: target loss {runs[-1]['loss']['target']:.4f}")
        if scored:
            doc_losses[name] = document_losses(runs[0]["model"], [t for _, t in scored], model)
        results[name] = _summary(runs) | {"order": candidate.kind}
        seed_curves[name] = [r["curve"]["target"] for r in runs]
    reference = spec.reference or next(iter(spec.candidates))
    goal = results[reference]["loss"]["target"]["loss"]
    for name, result in results.items():
        result["tokens_to_reference_loss"] = tokens_to_reach(seed_curves[name], goal)
    report = {
        "spec": json.loads(spec.model_dump_json()),
        "candidates": results,
        "ranking": sorted(results, key=lambda n: results[n]["loss"]["target"]["loss"]),
        "reference": {"candidate": reference, "target_loss": goal},
    }
    (output / "results.json").write_text(json.dumps(report, indent=2, sort_keys=True))
    if scored:
        _write_doc_losses(output, scored, doc_losses, results)
    curves = {n: r["curve"]["target"] for n, r in results.items()}
    (output / "loss.svg").write_text(loss_plot(curves, "target loss (nats/token)"))
    return report


def _write_doc_losses(output: Path, scored, losses: dict[str, np.ndarray], results) -> None:
    with open(output / "doc_losses.jsonl", "wb") as fh:
        for row, (doc_id, text) in enumerate(scored):
            record = {"id": doc_id, "text": text}
            record |= {f"loss_{name}": float(values[row]) for name, values in losses.items()}
            fh.write(orjson.dumps(record) + b"\n")
    benchmark = {
        "loss_columns": [f"loss_{name}" for name in losses],
        "benchmark": [-results[name]["loss"]["target"]["loss"] for name in losses],
    }
    (output / "benchmark.json").write_text(json.dumps(benchmark, indent=2))


def tokens_to_reach(curves: list[list], goal: float) -> dict:
    """Per seed, the training tokens at which the target loss curve first reaches ``goal``
    (interpolated linearly between evaluations; None: never within the run), with their
    mean and spread over the seeds that reach it."""
    per_seed = []
    for curve in curves:
        found, before = None, (0, math.inf)
        for tokens, loss in curve:
            if loss <= goal:
                t0, l0 = before
                share = 0.0 if not math.isfinite(l0) else (l0 - goal) / max(l0 - loss, 1e-12)
                found = round(t0 + share * (tokens - t0))
                break
            before = (tokens, loss)
        per_seed.append(found)
    reached = [t for t in per_seed if t is not None]
    return {
        "tokens": statistics.fmean(reached) if reached else None,
        "tokens_std": statistics.stdev(reached) if len(reached) > 1 else 0.0,
        "per_seed": per_seed,
    }


def _summary(runs: list[dict]) -> dict:
    names = runs[0]["loss"]
    loss = {}
    for name in names:
        values = [r["loss"][name] for r in runs]
        loss[name] = {
            "loss": statistics.fmean(values),
            "loss_std": statistics.stdev(values) if len(values) > 1 else 0.0,
            "per_seed": values,
        }
    curve = {
        name: [[t, statistics.fmean(r["curve"][name][i][1] for r in runs)]
               for i, (t, _) in enumerate(runs[0]["curve"][name])]
        for name in names
    }  # fmt: skip
    phases = [
        {"tokens": point["tokens"],
         "loss": {n: statistics.fmean(r["phase_loss"][i]["loss"][n] for r in runs)
                  for n in point["loss"]}}
        for i, point in enumerate(runs[0].get("phase_loss", []))
    ]  # fmt: skip
    return {
        "loss": loss,
        "curve": curve,
        "phase_loss": phases,
        "tokens": runs[0]["tokens"],
        "parameters": runs[0]["parameters"],
        "seconds": statistics.fmean(r["seconds"] for r in runs),
    }
