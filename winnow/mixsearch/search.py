"""``winnow mixsearch SPEC``: choose mixture weights with proxy models (RegMix, Liu et al. 2024;
ADMIRE-BayesOpt, 2025) and attribute target loss to the groups (a linear datamodel, Ilyas et
al. 2022).

Proxy runs train the screening proxy on seeded Dirichlet mixtures within the epoch cap (no
group more than ``max_epochs`` times in ``train_tokens``); ``regmix`` fits a regression of
target loss on the weights to all runs but the held-out quarter, ``bayesopt`` starts from a
quarter of random runs and picks each next mixture by expected improvement of a Gaussian
process. The proposal (the mean of the 100 best predicted of 100,000 candidates under the cap,
or the Gaussian process's best) is trained by the confirming proxy beside the natural and the
uniform mixture, over the seeds. Every run is cached under ``output/cache/`` by a hash of the
data, the mixture, the model and the seed, so a rerun trains nothing already trained.
"""

from __future__ import annotations

import hashlib
import json
import math
import multiprocessing
import os
import statistics
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np
import yaml

from winnow.evaluate.proxy import ModelSpec, byte_stream, train_ngram, train_transformer
from winnow.evaluate.run import ModelParams, tokens_to_reach
from winnow.extras import require
from winnow.mixsearch.pool import Pool, load_pool, mixture_texts
from winnow.mixsearch.report import write_report
from winnow.mixsearch.spec import MixSearchSpec, load_mixsearch_spec
from winnow.mixsearch.surrogate import (
    GaussianProcess,
    RegMix,
    datamodel,
    propose,
    rank_agreement,
    sample_mixtures,
    within_cap,
)
from winnow.stages.select.targets import target_texts

CANDIDATES = 100_000

_WORKER: dict = {}


def _init(pool: Pool, evals: dict[str, list[str]], eval_tokens: int) -> None:
    _WORKER.update(pool=pool, evals=evals, eval_tokens=eval_tokens)


def proxy_run(weights: tuple[float, ...], model: dict, seed: int, tokens: int) -> dict:
    """A local worker's task: ``train_mixture`` on the pool the process holds."""
    return train_mixture(_WORKER["pool"], _WORKER["evals"], _WORKER["eval_tokens"], weights,
                         model, seed, tokens)  # fmt: skip


def train_mixture(
    pool: Pool,
    evals: dict[str, list[str]],
    eval_tokens: int,
    weights: tuple[float, ...],
    model: dict,
    seed: int,
    tokens: int,
) -> dict:
    """One proxy trained on one mixture: its loss on every evaluation set and its target
    loss curve."""
    spec = ModelSpec(**model)
    texts = mixture_texts(pool, np.array(weights), tokens, seed)
    if spec.kind == "ngram":
        run = train_ngram(texts, evals, spec, tokens)
    else:
        import torch

        torch.set_num_threads(1)
        streams = {n: byte_stream(t, eval_tokens) for n, t in evals.items()}
        run = train_transformer(byte_stream(texts, tokens), streams, spec, seed, tokens)
    return {"loss": run["loss"], "curve": run["curve"]["target"], "seconds": run["seconds"]}


class Runner:
    """Proxy runs on every core (forkserver processes holding the pool) or as Ray tasks (the
    pool put in Ray's object store once), each cached."""

    def __init__(
        self,
        spec: MixSearchSpec,
        pool: Pool,
        evals: dict[str, list[str]],
        executor: str = "local",
        address: str | None = None,
        progress=print,
    ) -> None:
        self.cache = Path(spec.output) / "cache"
        self.cache.mkdir(parents=True, exist_ok=True)
        self.data = hashlib.sha256(json.dumps(
            [pool.fingerprint(), {n: sorted(t) for n, t in evals.items()}, spec.eval_tokens]
        ).encode()).hexdigest()  # fmt: skip
        workers = spec.workers or os.cpu_count() or 1
        self.progress, self.best = progress, math.inf
        if executor == "ray":
            from winnow.engine.ray_runner import RayRunner

            self.ray = RayRunner(address, workers)
            put = self.ray.ray.put
            self.shared = (put(pool), put(evals), spec.eval_tokens)
            self.executor = None
        else:
            self.ray = None
            context = multiprocessing.get_context("forkserver")
            self.executor = ProcessPoolExecutor(workers, context, _init,
                                                (pool, evals, spec.eval_tokens))  # fmt: skip
        self.sent = self.cached = 0

    def key(self, weights, model: ModelParams, seed: int, tokens: int) -> str:
        item = [self.data, [round(float(w), 9) for w in weights], model.model_dump(), seed, tokens]
        return hashlib.sha256(json.dumps(item, sort_keys=True).encode()).hexdigest()[:32]

    def runs(self, mixtures, model: ModelParams, seeds, tokens: int) -> list[dict]:
        """Per mixture, its losses averaged over ``seeds`` (and every seed's)."""
        todo, found = {}, {}
        for m, weights in enumerate(mixtures):
            for seed in seeds:
                path = self.cache / f"{self.key(weights, model, seed, tokens)}.json"
                if path.exists():
                    found[(m, seed)] = json.loads(path.read_text())
                    self.cached += 1
                else:
                    args = (tuple(float(w) for w in weights), model.model_dump(), seed, tokens)
                    todo[(m, seed)] = (path, args)
        for where, result in self._train(todo):
            todo[where][0].write_text(json.dumps(result))
            found[where] = result
            self.sent += 1
            self.best = min(self.best, result["loss"]["target"])
            self.progress(f"proxy run {self.sent} ({model.kind}): target loss "
                          f"{result['loss']['target']:.4f}, best {self.best:.4f}")  # fmt: skip
        out = []
        for m in range(len(mixtures)):
            per_seed = [found[(m, s)] for s in seeds]
            names = per_seed[0]["loss"]
            out.append({
                "loss": {n: statistics.fmean(r["loss"][n] for r in per_seed) for n in names},
                "loss_std": {n: statistics.stdev(r["loss"][n] for r in per_seed)
                             if len(per_seed) > 1 else 0.0 for n in names},
                "per_seed": [r["loss"]["target"] for r in per_seed],
                "curves": [r["curve"] for r in per_seed],
            })  # fmt: skip
        return out

    def _train(self, todo: dict):
        """(key, result) of every run to train, as they finish (Ray: when all have)."""
        if self.ray is not None:
            calls = [(*self.shared, *args) for _, args in todo.values()]
            yield from zip(todo, self.ray.map("mixsearch", train_mixture, calls))
            return
        futures = {self.executor.submit(proxy_run, *args): key for key, (_, args) in todo.items()}
        for future in as_completed(futures):
            yield futures[future], future.result()

    def close(self) -> None:
        if self.ray is not None:
            self.ray.close()
        else:
            self.executor.shutdown()


def mixsearch(spec: MixSearchSpec | dict | str | Path, progress=print, executor: str = "local",
              address: str | None = None) -> dict:  # fmt: skip
    """Run a mixture search (proxy runs on this machine's cores, or ``executor="ray"``);
    returns what ``output/results.json`` holds."""
    spec = spec if isinstance(spec, MixSearchSpec) else load_mixsearch_spec(spec)
    for model in (spec.model, spec.confirm):
        if model.kind == "transformer":
            require("torch", "evaluate", "mixsearch's transformer proxy")
    output = Path(spec.output)
    output.mkdir(parents=True, exist_ok=True)
    pool = load_pool(spec.inputs, spec.groups.by)
    cap = np.minimum(spec.max_epochs * pool.available / spec.train_tokens, 1.0)
    if cap.sum() < 1:
        raise ValueError(
            f"mixsearch: the groups hold {int(pool.available.sum()):,} bytes; "
            f"train_tokens {spec.train_tokens:,} needs more than max_epochs {spec.max_epochs}"
        )
    evals = {"target": list(target_texts(spec.target))}
    evals |= {name: list(target_texts(p)) for name, p in spec.eval_sets.items()}
    rng = np.random.Generator(np.random.PCG64(spec.seeds[0]))
    runner = Runner(spec, pool, evals, executor, address, progress)
    try:
        weights, runs, held = _explore(spec, runner, cap, rng, progress)
        loss = np.array([r["loss"]["target"] for r in runs])
        fit = ~held
        surrogate = (RegMix() if spec.method == "regmix" else GaussianProcess(spec.seeds[0]))
        surrogate.fit(weights[fit], loss[fit])
        predicted = surrogate.predict(weights)
        candidates = sample_mixtures(CANDIDATES, cap, spec.alpha, rng)
        if spec.method == "regmix":
            proposal = within_cap(propose(surrogate, candidates), cap)[0]
        else:
            proposal = candidates[int(np.argmin(surrogate.predict(candidates)))]
        natural = within_cap(pool.available / pool.available.sum(), cap)[0]
        uniform = within_cap(np.full(len(cap), 1 / len(cap)), cap)[0]
        progress(f"verifying the proposal with the {spec.confirm.kind} proxy")
        checked = runner.runs([proposal, natural, uniform], spec.confirm, spec.seeds, spec.tokens)
    finally:
        runner.close()
    names = pool.names
    verified = dict(zip(("proposed", "natural", "uniform"), checked))
    goal = verified["natural"]["loss"]["target"]
    for result in verified.values():
        result["tokens_to_natural_loss"] = tokens_to_reach(result.pop("curves"), goal)
    report = {
        "spec": json.loads(spec.model_dump_json()),
        "groups": {n: {"bytes": int(b), "documents": len(t), "max_share": float(c)}
                   for n, b, t, c in zip(names, pool.available, pool.texts, cap)},  # fmt: skip
        "runs": [{"weights": dict(zip(names, map(float, w))), "loss": r["loss"],
                  "loss_std": r["loss_std"], "predicted": float(p), "held_out": bool(h)}
                 for w, r, p, h in zip(weights, runs, predicted, held)],  # fmt: skip
        "surrogate": {"method": spec.method,
                      "held_out_spearman": rank_agreement(predicted[held], loss[held])},
        "proposal": dict(zip(names, map(float, proposal))),
        "verification": {k: {**v, "weights": dict(zip(names, map(float, w)))}
                         for (k, v), w in zip(verified.items(), (proposal, natural, uniform))},
        "datamodel": datamodel(weights, loss, names, held, spec.seeds[0]),
        "requests": {"trained": runner.sent, "cached": runner.cached},
    }  # fmt: skip
    (output / "results.json").write_text(json.dumps(report, indent=2, sort_keys=True))
    (output / "recipe.yaml").write_text(_recipe(spec, pool, proposal))
    write_report(output, report, surrogate, names, proposal, cap)
    return report


def _explore(spec: MixSearchSpec, runner: Runner, cap, rng, progress):
    """The proxy runs: (weights, results, held-out mask). ``regmix``: all sampled at once;
    ``bayesopt``: a quarter at random, then one at a time by expected improvement. The
    held-out mixtures are random in both and never fitted."""
    model, seeds, tokens = spec.model, spec.seeds, spec.tokens
    held = sample_mixtures(spec.held_out, cap, spec.alpha, rng)
    fitted_n = spec.runs - spec.held_out
    if spec.method == "regmix":
        fitted = sample_mixtures(fitted_n, cap, spec.alpha, rng)
        results = runner.runs(np.vstack([fitted, held]), model, seeds, tokens)
    else:
        start = max(3, fitted_n // 4)
        fitted = sample_mixtures(start, cap, spec.alpha, rng)
        results = runner.runs(np.vstack([fitted, held]), model, seeds, tokens)
        pool = sample_mixtures(4096, cap, spec.alpha, rng)
        while len(fitted) < fitted_n:
            loss = np.array([r["loss"]["target"] for r in results[: len(fitted)]])
            gp = GaussianProcess(spec.seeds[0]).fit(fitted, loss)
            pick = pool[int(np.argmax(gp.expected_improvement(pool, loss.min())))]
            fitted = np.vstack([fitted, pick])
            results.insert(len(fitted) - 1, runner.runs([pick], model, seeds, tokens)[0])
            best = min(r["loss"]["target"] for r in results[: len(fitted)])
            progress(f"run {len(fitted) + spec.held_out}/{spec.runs}: best target loss {best:.4f}")
    weights = np.vstack([fitted, held])
    mask = np.zeros(len(weights), dtype=bool)
    mask[len(fitted) :] = True
    best = min(r["loss"]["target"] for r in results)
    progress(f"{len(results)} proxy runs ({runner.cached} cached): best target loss {best:.4f}")
    return weights, results, mask


def _recipe(spec: MixSearchSpec, pool: Pool, proposal: np.ndarray) -> str:
    """A ready winnow recipe: the inputs, mixed by the proposal (a group of several files
    shares its weight among them by their bytes)."""
    if spec.groups.by == "source":
        weights = {}
        for g, share in enumerate(proposal):
            total = sum(pool.files[g].values()) or 1
            for source, size in pool.files[g].items():
                weights[source] = round(float(share) * size / total, 6)
    else:
        weights = {n: round(float(w), 6) for n, w in zip(pool.names, proposal)}
    mix = {"by": spec.groups.by, "weights": weights, "max_epochs": spec.max_epochs,
           "tokens": math.ceil(spec.train_tokens / 4)}  # fmt: skip
    recipe = {"inputs": list(spec.inputs), "output": str(Path(spec.output) / "output"),
              "stages": [{"mix": mix}]}  # fmt: skip
    head = ("# winnow mixsearch: the proposed mixture (mix counts bytes / 4 as tokens without\n"
            f"# tokenize: tokens is train_tokens {spec.train_tokens:,} bytes / 4)\n")  # fmt: skip
    return head + yaml.safe_dump(recipe, sort_keys=False)
