"""``mix``: combine sources in target proportions of tokens, as an ordered training stream.

Sources are the input files (``by: source``, named by file name without extensions) or
the values of a metadata field (``by: domain``). Each source's share of the stream's
tokens is its ``weights`` entry (default: its available tokens), raised to ``1 /
temperature`` and normalised (temperature sampling, as mT5/XLM-R). A source repeats at
most ``max_epochs`` times (4 epochs are nearly as good as new data: Muennighoff et al.
2023, "Scaling Data-Constrained Language Models"); by default the stream is as long as the
cap allows, or ``tokens`` long. ``final: {fraction: 0.1, weights: {...}}`` gives the last
part of the stream its own proportions, upsampling chosen sources at the end of training
(Blakeney et al. 2024, "Does your data spark joy?").

Documents are taken whole: full passes in a seeded order, then a seeded partial pass to
the token target; each source's documents are spread evenly over its phase of the stream.
Token counts are ``n_tokens`` (from ``tokenize``) when present, else UTF-8 bytes / 4.

Output: documents used at least once stay (once) in the run's data; the others go to the
ledger as ``not_mixed``. The ordered stream, with repeats, is written to the run's
``artifacts/NN-mix/`` folder as ``stream-*.parquet`` (position, id, source, epoch, phase,
text; for chat records ``messages`` as OpenAI JSON instead of the text view) with
``manifest.json``: per source, tokens available and used, epochs, target and
actual share per phase.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pydantic import BaseModel, ConfigDict, Field

from winnow.chat.output import openai_messages
from winnow.io.inputs import data_name
from winnow.stages.base import DROPS_SCHEMA, CorpusStage, Params, ShardColumns, register


class FinalPhase(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    fraction: float = Field(gt=0, lt=1)
    weights: dict[str, float]


class MixParams(Params):
    weights: dict[str, float] | None = None
    by: str = "source"
    temperature: float = Field(1.0, gt=0)
    max_epochs: float = Field(4.0, gt=0)
    tokens: int | None = Field(None, ge=1)
    final: FinalPhase | None = None
    seed: int = 0
    stream_docs: int = Field(50_000, ge=1)
    """Documents per stream file."""


@register
class Mix(CorpusStage):
    """An ordered stream of the sources in target token proportions, with an epoch cap."""

    name = "mix"
    ParamsModel = MixParams
    summary = "sources or domains mixed by token weights, temperature, epoch cap, final phase"
    origin = "Muennighoff et al. 2023 (epochs); Blakeney et al. 2024 (final-phase upsampling)"
    signature_columns = ("_mix_group", "_mix_tokens")

    def map(self, batch: pa.RecordBatch) -> dict[str, pa.Array]:
        if self.params.by == "source":
            files = pc.replace_substring_regex(batch.column("source"), r":[0-9]+$", "")
            groups = [data_name(f) for f in files.to_pylist()]
        else:
            groups = [_field(m, self.params.by) for m in batch.column("meta").to_pylist()]
        if "n_tokens" in batch.schema.names:
            tokens = batch.column("n_tokens").cast(pa.int64())
        else:
            size = pc.binary_length(pc.fill_null(batch.column("text"), ""))
            tokens = pc.max_element_wise(pc.divide(pc.add(size, 3), 4), 1).cast(pa.int64())
        return {"_mix_group": pa.array(groups, pa.string()), "_mix_tokens": tokens}

    def reduce(self, shards: Sequence[ShardColumns]) -> list[pa.Table]:
        p = self.params
        tables = [load(list(self.signature_columns)) for load in shards]
        sizes = [t.num_rows for t in tables]
        groups = np.array(sum((t.column(0).to_pylist() for t in tables), []), dtype=object)
        tokens = np.concatenate([t.column(1).to_numpy() for t in tables]) if tables else []
        plan = plan_mix(groups, np.asarray(tokens, dtype=np.int64), p)
        used = np.zeros(len(groups), dtype=bool)
        used[plan["doc"]] = True
        if self.artifacts is not None:
            _write_stream(self.artifacts, shards, groups, plan, p.stream_docs)
            manifest = {k: v for k, v in plan.items() if k not in ("doc", "epoch", "phase")}
            (self.artifacts / "manifest.json").write_text(json.dumps(manifest, indent=2))
        self.plan = plan
        out, start = [], 0
        for size in sizes:
            rows = np.nonzero(~used[start : start + size])[0]
            out.append(pa.table({
                "row": pa.array(rows, pa.int64()),
                "reason": pa.array(["not_mixed"] * len(rows), pa.string()),
                "duplicate_of": pa.nulls(len(rows), pa.string()),
                "cluster_size": pa.nulls(len(rows), pa.int64()),
            }, schema=DROPS_SCHEMA))  # fmt: skip
            start += size
        return out


def plan_mix(groups: np.ndarray, tokens: np.ndarray, p: MixParams) -> dict:
    """The stream: document index, epoch and phase at every position, and the manifest."""
    names = sorted(set(groups.tolist()))
    if not names:  # no documents reached the stage
        nothing = np.zeros(0, np.int64)
        return {"doc": nothing, "epoch": nothing, "phase": nothing, "tokens": 0,
                "sources": {}, "schedule": [], "max_epochs": p.max_epochs}  # fmt: skip
    available = {g: int(tokens[groups == g].sum()) for g in names}
    phases = [(1.0, p.weights)]
    if p.final is not None:
        phases = [(1 - p.final.fraction, p.weights), (p.final.fraction, p.final.weights)]
    shares = [_shares(w, available, p.temperature) for _, w in phases]
    # tokens each source must give: the stream as long as the epoch cap allows, or p.tokens
    per_token = {g: sum(f * s[g] for (f, _), s in zip(phases, shares)) for g in names}
    limit = min(
        (available[g] * p.max_epochs / per_token[g] for g in names if per_token[g] > 0),
        default=0,
    )
    total = int(min(p.tokens, limit) if p.tokens is not None else limit)
    rng = np.random.Generator(np.random.PCG64(p.seed))
    order_doc, order_epoch, order_phase, keys = [], [], [], []
    report = {}
    for g in names:
        docs = np.nonzero(groups == g)[0]
        targets = [f * total * s[g] for (f, _), s in zip(phases, shares)]
        docs_seq, epochs = _passes(docs, tokens, sum(targets), rng)
        cum = np.cumsum(tokens[docs_seq]) if len(docs_seq) else np.zeros(0)
        bounds = np.cumsum(targets)
        phase = np.minimum(np.searchsorted(bounds, cum - tokens[docs_seq] / 2), len(phases) - 1)
        for k, target in enumerate(targets):
            mine = phase == k
            # spread this source's documents evenly over the phase: key = middle of its tokens
            before = cum[mine] - tokens[docs_seq[mine]] / 2 - (bounds[k] - target)
            keys.append(k + before / max(target, 1))
            order_doc.append(docs_seq[mine])
            order_epoch.append(epochs[mine])
            order_phase.append(np.full(int(mine.sum()), k))
        used = int(tokens[docs_seq].sum())
        report[g] = {
            "documents": len(docs),
            "tokens_available": available[g],
            "tokens_used": used,
            "epochs": round(used / available[g], 4) if available[g] else 0.0,
            "target_share": [round(s[g], 6) for s in shares],
        }
    key = np.concatenate(keys) if keys else np.zeros(0)
    doc = np.concatenate(order_doc) if order_doc else np.zeros(0, np.int64)
    order = np.lexsort((doc, key))
    doc, key = doc[order], key[order]
    epoch = np.concatenate(order_epoch)[order] if order_epoch else doc
    phase = np.concatenate(order_phase)[order] if order_phase else doc
    for k in range(len(phases)):
        in_phase = phase == k
        phase_tokens = max(int(tokens[doc[in_phase]].sum()), 1)
        for g in names:
            mine = in_phase & (groups[doc] == g)
            report[g].setdefault("actual_share", []).append(
                round(int(tokens[doc[mine]].sum()) / phase_tokens, 6)
            )
    schedule = [{"fraction": f, "weights": dict(zip(names, (round(s[g], 6) for g in names)))}
                for (f, _), s in zip(phases, shares)]  # fmt: skip
    return {"doc": doc, "epoch": epoch, "phase": phase, "tokens": int(tokens[doc].sum()),
            "sources": report, "schedule": schedule, "max_epochs": p.max_epochs}  # fmt: skip


def _shares(weights, available: dict[str, int], temperature: float) -> dict[str, float]:
    base = {g: float((weights or available).get(g, 0.0)) for g in available}
    scaled = {g: w ** (1 / temperature) if w > 0 else 0.0 for g, w in base.items()}
    total = sum(scaled.values())
    if total <= 0:
        raise ValueError(f"mix: no weight for any source (sources: {sorted(available)})")
    return {g: w / total for g, w in scaled.items()}


def _passes(docs: np.ndarray, tokens: np.ndarray, target: float, rng):
    """Whole passes over ``docs`` in seeded orders, then part of one, until ``target``
    tokens: (documents in stream order, epoch of each)."""
    out, epochs, got, epoch = [], [], 0, 0
    size = int(tokens[docs].sum())
    while size and got + size <= target + 1e-9:
        out.append(rng.permutation(docs))
        epochs.append(np.full(len(docs), epoch))
        got, epoch = got + size, epoch + 1
    if size and got < target:
        order = rng.permutation(docs)
        cum = np.cumsum(tokens[order])
        need = target - got
        take = int(np.searchsorted(cum, need))  # documents whose total stays under need
        if take < len(order) and cum[take] - need <= need - (cum[take - 1] if take else 0):
            take += 1  # the nearer of the two totals around the target
        out.append(order[:take])
        epochs.append(np.full(take, epoch))
    if not out:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(out), np.concatenate(epochs)


def _write_stream(folder: Path, shards, groups: np.ndarray, plan: dict, per_file: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    tables = [load(["id", "text", "messages"]) for load in shards]
    whole = pa.concat_tables(tables) if tables else None
    for part, start in enumerate(range(0, len(plan["doc"]), per_file)):
        doc = plan["doc"][start : start + per_file]
        chunk = openai_messages(whole.take(pa.array(doc))) if whole is not None else None
        table = pa.table({
            "position": np.arange(start, start + len(doc)),
            "id": chunk.column("id"), "source": pa.array(groups[doc].tolist(), pa.string()),
            "epoch": plan["epoch"][start : start + len(doc)],
            "phase": plan["phase"][start : start + len(doc)], "text": chunk.column("text"),
            "messages": chunk.column("messages"),
        })  # fmt: skip
        pq.write_table(table, folder / f"stream-{part:05d}.parquet")


def _field(meta: str | None, field: str) -> str:
    try:
        value = orjson.loads(meta).get(field) if meta else None
    except (orjson.JSONDecodeError, AttributeError):
        value = None
    return "" if value is None else str(value)
