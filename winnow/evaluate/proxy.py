"""Small proxy language models that measure what a dataset is worth: the same model, the
same tokenizer and the same number of training tokens for every candidate, then the loss on
a target set (DataComp / DCLM-style comparisons).

- ``transformer``: a decoder-only transformer in PyTorch (pre-LayerNorm blocks, causal
  attention, tied embeddings; a few million parameters at most), AdamW with a cosine
  schedule, trained on random windows of the candidate's token stream; CPU unless a GPU
  is present. Seeded, deterministic algorithms, a fixed thread count.
- ``ngram``: a Kneser-Ney n-gram model (``winnow.models.ngram_lm``) of the candidate's first
  ``tokens`` bytes of text, for quick screening.

Tokens are UTF-8 bytes (256 symbols plus an end-of-document token): no tokenizer to train
or download, identical for every candidate. Losses are nats per byte-token (transformer) or
per word (n-gram).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

EOD = 256
VOCAB = 257


@dataclass(frozen=True)
class ModelSpec:
    kind: str = "transformer"
    layers: int = 2
    d_model: int = 128
    heads: int = 4
    context: int = 128
    batch: int = 16
    lr: float = 3e-3
    order: int = 3
    threads: int = 1
    eval_points: int = 8
    schedule: str = "cosine"
    decay: float = 0.2


def lr_factor(step: int, steps: int, spec: ModelSpec, warmup: int = 20) -> float:
    """The learning rate's multiplier at ``step`` of ``steps``: a linear warmup, then cosine
    decay to zero, or warmup-stable-decay (``wsd``: constant until the last ``decay`` of the
    steps, then a 1 - sqrt cooldown, Hägele et al. 2024; the stable phase makes
    intermediate losses of one run comparable to finished shorter runs)."""
    warm = min(1.0, (step + 1) / warmup)
    if spec.schedule == "cosine":
        return warm * 0.5 * (1 + math.cos(math.pi * step / steps))
    start = steps * (1 - spec.decay)
    if step < start:
        return warm
    return warm * (1 - math.sqrt(min(1.0, (step - start) / max(steps - start, 1))))


def document_starts(texts) -> np.ndarray:
    """Where each document begins in ``byte_stream(texts)``."""
    sizes = [len(t.encode("utf-8")) + 1 for t in texts]
    return np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64) if sizes else sizes


def byte_stream(texts, limit: int | None = None) -> np.ndarray:
    """The documents' UTF-8 bytes, each closed by EOD, as int64 (at most ``limit``)."""
    parts, total = [], 0
    for text in texts:
        data = np.frombuffer(text.encode("utf-8"), dtype=np.uint8).astype(np.int64)
        parts.append(np.append(data, EOD))
        total += len(parts[-1])
        if limit is not None and total >= limit:
            break
    stream = np.concatenate(parts) if parts else np.zeros(0, np.int64)
    return stream[:limit] if limit is not None else stream


def train_transformer(train: np.ndarray, evals: dict[str, np.ndarray], spec: ModelSpec,
                      seed: int, tokens: int, ordered: bool = False,
                      boundaries: tuple[int, ...] = ()) -> dict:  # fmt: skip
    """Train on ``tokens`` tokens of ``train``: random windows, or with ``ordered`` the
    stream's windows in order (from its start again if it is shorter). Returns per
    evaluation set the final loss and the loss curve (also at each of the ``boundaries``,
    stream positions where a phase begins: ``phase_loss``), tokens seen, parameters and
    seconds."""
    import torch

    torch.manual_seed(seed)
    torch.set_num_threads(spec.threads)
    torch.use_deterministic_algorithms(True)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = _TinyGPT(spec).to(device)
    steps = max(1, tokens // (spec.batch * spec.context))
    optimiser = torch.optim.AdamW(model.parameters(), lr=spec.lr, weight_decay=0.1)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimiser, lambda s: lr_factor(s, steps, spec))
    source = torch.from_numpy(train)
    generator = torch.Generator().manual_seed(seed)
    checkpoints = set(np.linspace(0, steps, spec.eval_points + 1).astype(int)[1:].tolist())
    per_step = spec.batch * spec.context
    at_phase = {b // per_step: b for b in boundaries if 1 <= b // per_step <= steps}
    curve: dict[str, list[tuple[int, float]]] = {name: [] for name in evals}
    phase_loss: list[dict] = []
    span = len(source) - spec.context - 1
    started = time.perf_counter()
    for step in range(1, steps + 1):
        if ordered:
            first = (step - 1) * spec.batch
            starts = [((first + j) * spec.context) % span for j in range(spec.batch)]
        else:
            starts = torch.randint(0, span, (spec.batch,), generator=generator).tolist()
        window = torch.stack([source[s : s + spec.context + 1] for s in starts])
        window = window.to(device)
        loss = model.loss(window[:, :-1], window[:, 1:])
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimiser.step()
        schedule.step()
        if step in checkpoints or step in at_phase:
            losses = {name: evaluate(model, data, spec) for name, data in evals.items()}
            for name, value in losses.items():
                curve[name].append((step * per_step, value))
            if step in at_phase:
                phase_loss.append({"tokens": step * per_step, "loss": losses})
    return {
        "loss": {name: points[-1][1] for name, points in curve.items()},
        "curve": curve,
        "phase_loss": phase_loss,
        "model": model,
        "tokens": steps * spec.batch * spec.context,
        "parameters": sum(p.numel() for p in model.parameters()),
        "seconds": time.perf_counter() - started,
    }


def evaluate(model, data: np.ndarray, spec: ModelSpec) -> float:
    """Mean loss over non-overlapping windows of ``data``."""
    import torch

    n = (len(data) - 1) // spec.context
    if n < 1:
        raise ValueError("an evaluation set needs more text than one context window")
    x = torch.from_numpy(data[: n * spec.context + 1])
    device = next(model.parameters()).device
    total, count = 0.0, 0
    model.eval()
    with torch.no_grad():
        for i in range(0, n, 64):
            rows = range(i, min(n, i + 64))
            inputs = torch.stack([x[r * spec.context : (r + 1) * spec.context] for r in rows])
            targets = torch.stack([x[r * spec.context + 1 : (r + 1) * spec.context + 1]
                                   for r in rows])  # fmt: skip
            loss = model.loss(inputs.to(device), targets.to(device))
            total += float(loss) * len(rows)
            count += len(rows)
    model.train()
    return total / count


def document_losses(model, texts: list[str], spec: ModelSpec) -> np.ndarray:
    """Each document's mean loss over its first ``context`` + 1 bytes (NaN if shorter
    than two): the per-document losses perplexity_correlation and preselect read."""
    if spec.kind == "ngram":
        total, count = model.log10_probs(texts)
        return np.where(count > 0, -total / np.maximum(count, 1) * math.log(10), np.nan)
    import torch
    from torch.nn import functional as F  # noqa: N812

    out = np.full(len(texts), np.nan)
    device = next(model.parameters()).device
    model.eval()
    with torch.no_grad():
        for i in range(0, len(texts), 64):
            rows = [byte_stream([t], spec.context + 1) for t in texts[i : i + 64]]
            width = max(len(r) for r in rows)
            batch = np.zeros((len(rows), width), np.int64)
            mask = np.zeros((len(rows), width - 1), bool)
            for k, r in enumerate(rows):
                batch[k, : len(r)] = r
                mask[k, : len(r) - 1] = True
            x = torch.from_numpy(batch).to(device)
            logits = model.logits(x[:, :-1])
            loss = F.cross_entropy(logits.transpose(1, 2), x[:, 1:], reduction="none").cpu()
            m = torch.from_numpy(mask)
            per_doc = (loss * m).sum(1) / m.sum(1).clamp(min=1)
            out[i : i + len(rows)] = np.where(m.sum(1).numpy() > 0, per_doc.numpy(), np.nan)
    model.train()
    return out


def train_ngram(train_texts: list[str], evals: dict[str, list[str]], spec: ModelSpec,
                tokens: int) -> dict:  # fmt: skip
    """An n-gram model of the first ``tokens`` bytes; loss = ln perplexity per word."""
    from winnow.models.ngram_lm import NgramLM

    started = time.perf_counter()
    kept, size = [], 0
    for text in train_texts:
        if size >= tokens:
            break
        kept.append(text[: tokens - size])
        size += len(kept[-1].encode("utf-8"))
    lm = NgramLM.train(kept, order=spec.order)
    loss = {}
    for name, texts in evals.items():
        total, count = lm.log10_probs(texts)
        loss[name] = float(-total.sum() / max(count.sum(), 1) * math.log(10))
    return {"loss": loss, "curve": {n: [(size, v)] for n, v in loss.items()}, "tokens": size,
            "model": lm,
            "parameters": int(sum(len(k) for k in lm.keys)),
            "seconds": time.perf_counter() - started}  # fmt: skip


def _TinyGPT(spec: ModelSpec):  # noqa: N802 - a factory that keeps torch an optional import
    import torch
    from torch import nn
    from torch.nn import functional as F  # noqa: N812

    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.ln1, self.ln2 = nn.LayerNorm(spec.d_model), nn.LayerNorm(spec.d_model)
            self.qkv = nn.Linear(spec.d_model, 3 * spec.d_model)
            self.proj = nn.Linear(spec.d_model, spec.d_model)
            self.mlp = nn.Sequential(nn.Linear(spec.d_model, 4 * spec.d_model), nn.GELU(),
                                     nn.Linear(4 * spec.d_model, spec.d_model))  # fmt: skip

        def forward(self, x):
            b, t, d = x.shape
            q, k, v = self.qkv(self.ln1(x)).split(d, dim=2)
            shape = (b, t, spec.heads, d // spec.heads)
            q, k, v = (z.view(shape).transpose(1, 2) for z in (q, k, v))
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            x = x + self.proj(y.transpose(1, 2).reshape(b, t, d))
            return x + self.mlp(self.ln2(x))

    class TinyGPT(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = nn.Embedding(VOCAB, spec.d_model)
            self.position = nn.Embedding(spec.context, spec.d_model)
            self.blocks = nn.ModuleList(Block() for _ in range(spec.layers))
            self.ln = nn.LayerNorm(spec.d_model)

        def logits(self, inputs):
            positions = torch.arange(inputs.shape[1], device=inputs.device)
            x = self.embed(inputs) + self.position(positions)
            for block in self.blocks:
                x = block(x)
            return self.ln(x) @ self.embed.weight.T

        def loss(self, inputs, targets):
            logits = self.logits(inputs)
            return F.cross_entropy(logits.reshape(-1, VOCAB), targets.reshape(-1))

    return TinyGPT()
