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

A candidate is a winnow output folder (its ``data/``), a recipe (run first, into
``output/candidates/NAME``), or documents in any input format. Results go to
``output/results.json`` (per candidate and evaluation set: ``loss`` = mean over seeds,
``loss_std``; ``tokens``, ``seconds``) and ``output/loss.svg`` (target loss against tokens).
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Literal

import numpy as np
import orjson
import yaml
from pydantic import BaseModel, ConfigDict, Field

from winnow.evaluate.plot import loss_plot
from winnow.evaluate.proxy import (
    ModelSpec,
    byte_stream,
    document_losses,
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


class EvaluateSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    candidates: dict[str, str]
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


def load_spec(spec: str | Path | dict) -> EvaluateSpec:
    if not isinstance(spec, dict):
        with open(spec, encoding="utf-8") as fh:
            spec = yaml.safe_load(fh)
    return EvaluateSpec.model_validate(spec)


def candidate_texts(name: str, where: str, output: Path) -> list[str]:
    path = Path(where)
    if path.suffix in (".yaml", ".yml") and path.is_file():
        import winnow

        out = output / "candidates" / name
        winnow.run(str(path), output=str(out), overwrite=True)
        path = out
    if path.is_dir() and (path / "data").is_dir():
        path = path / "data"
    return list(target_texts(str(path)))


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
    for name, where in spec.candidates.items():
        texts = candidate_texts(name, where, output)
        runs = []
        for seed in spec.seeds:
            order = np.random.Generator(np.random.PCG64(seed)).permutation(len(texts))
            shuffled = [texts[i] for i in order]
            if model.kind == "ngram":
                runs.append(train_ngram(shuffled, eval_texts, model, spec.tokens))
            else:
                stream = byte_stream(shuffled, spec.tokens)
                if len(stream) < spec.tokens:
                    progress(f"{name}: only {len(stream):,} tokens (< {spec.tokens:,})")
                runs.append(train_transformer(stream, evals, model, seed, spec.tokens))
            progress(f"{name} seed {seed}: target loss {runs[-1]['loss']['target']:.4f}")
        if scored:
            doc_losses[name] = document_losses(runs[0]["model"], [t for _, t in scored], model)
        results[name] = _summary(runs)
    report = {
        "spec": json.loads(spec.model_dump_json()),
        "candidates": results,
        "ranking": sorted(results, key=lambda n: results[n]["loss"]["target"]["loss"]),
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
    return {
        "loss": loss,
        "curve": curve,
        "tokens": runs[0]["tokens"],
        "parameters": runs[0]["parameters"],
        "seconds": statistics.fmean(r["seconds"] for r in runs),
    }
