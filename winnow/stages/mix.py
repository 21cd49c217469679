"""``mix``: combine sources in target proportions of tokens, as an ordered training stream.

Sources are the input files (``by: source``, named by file name without extensions; what a
language-model stage made is ``generated:<stage>``, so real and synthetic mix) or
the values of a field path (``by: meta.domain``, ``by: lang``; a bare name that is no column
is a key of ``meta``, so ``by: domain`` works as before). Each source's share of the stream's
tokens is its ``weights`` entry (default: its available tokens), raised to ``1 /
temperature`` and normalised (temperature sampling, as mT5/XLM-R). A source repeats at
most ``max_epochs`` times (4 epochs are nearly as good as new data: Muennighoff et al.
2023, "Scaling Data-Constrained Language Models"); by default the stream is as long as the
cap allows, or ``tokens`` long. ``phases: [{fraction: 0.2, weights: {...}}, ...]`` give
later parts of the stream their own proportions, in order after the main phase (which takes
the rest); ``final: {fraction, weights}`` is the one-phase shorthand: upsampling chosen
sources at the end of training (Blakeney et al. 2024, "Does your data spark joy?").
``order_by`` (a field path: ``n_tokens``, a score column) orders the documents within each
phase by that value, ascending (``descending: true`` for the reverse), for curricula
(short-to-long, easy-to-hard); documents without the value come last in their phase.

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
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pydantic import BaseModel, ConfigDict, Field, model_validator

from winnow.chat.output import openai_messages
from winnow.fields import MISSING, field_values
from winnow.io.inputs import data_name
from winnow.stages.base import (
    DROPS_SCHEMA,
    CorpusStage,
    Params,
    RunContext,
    ShardColumns,
    register,
    scratch_of,
)


class Phase(BaseModel):
    """A later part of the stream (``fraction`` of its tokens) with its own ``weights``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    fraction: float = Field(gt=0, lt=1)
    weights: dict[str, float]


def made_group(source: str) -> str | None:
    """The source group of a document a stage made (``generated:rewrite``, from
    ``generated:rewrite:<id>``), or None for a document read from an input file."""
    if not source.startswith("generated:"):
        return None
    return ":".join(source.split(":", 2)[:2])


class MixParams(Params):
    weights: dict[str, float] | None = None
    by: str = "source"
    temperature: float = Field(1.0, gt=0)
    max_epochs: float = Field(4.0, gt=0)
    tokens: int | None = Field(None, ge=1)
    phases: list[Phase] = []
    """Later phases, in stream order, after the main one (which has ``weights``)."""
    final: Phase | None = None
    """One later phase: the shorthand for ``phases: [final]``."""
    order_by: str | None = None
    """A field path whose value orders the documents within each phase (curricula)."""
    descending: bool = False
    seed: int = 0
    stream_docs: int = Field(50_000, ge=1)
    """Documents per stream file."""

    @model_validator(mode="after")
    def _one_way_to_phase(self) -> MixParams:
        if self.final is not None and self.phases:
            raise ValueError("give either final (one later phase) or phases, not both")
        if sum(p.fraction for p in self.later) >= 1:
            raise ValueError("the later phases' fractions must add up to less than 1")
        return self

    @property
    def later(self) -> list[Phase]:
        return [self.final] if self.final is not None else list(self.phases)


@register
class Mix(CorpusStage):
    """An ordered stream of the sources in target token proportions, with an epoch cap."""

    name = "mix"
    ParamsModel = MixParams
    summary = "sources or domains mixed by token weights, temperature, epoch cap, phases"
    origin = "Muennighoff et al. 2023 (epochs); Blakeney et al. 2024 (final-phase upsampling)"

    @property
    def signature_columns(self) -> tuple[str, ...]:
        order = ("_mix_order",) if self.params.order_by is not None else ()
        return ("_mix_group", "_mix_tokens", *order)

    def map(self, batch: pa.RecordBatch) -> dict[str, pa.Array]:
        if self.params.by == "source":
            files = pc.replace_substring_regex(batch.column("source"), r":[0-9]+$", "")
            groups = [made_group(f) or data_name(f) for f in files.to_pylist()]
        else:  # a field path: a column, or a key of meta
            groups = [
                "" if v is MISSING else str(v) for v in field_values(batch, self.params.by)
            ]
        if "n_tokens" in batch.schema.names:
            tokens = batch.column("n_tokens").cast(pa.int64())
        else:
            size = pc.binary_length(pc.fill_null(batch.column("text"), ""))
            tokens = pc.max_element_wise(pc.divide(pc.add(size, 3), 4), 1).cast(pa.int64())
        out = {"_mix_group": pa.array(groups, pa.string()), "_mix_tokens": tokens}
        if self.params.order_by is not None:
            out["_mix_order"] = pa.array(
                [_number(v) for v in field_values(batch, self.params.order_by)], pa.float64()
            )
        return out

    def reduce(self, shards: Sequence[ShardColumns], run: RunContext) -> list[pa.Table]:
        p = self.params
        tables = [load(list(self.signature_columns)) for load in shards]
        sizes = [t.num_rows for t in tables]
        column = pa.chunked_array([t.column(0) for t in tables], pa.string()).combine_chunks()
        encoded = column.dictionary_encode()  # a source code per document, not a string
        names = encoded.dictionary.to_pylist()
        codes = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int32)
        tokens = np.concatenate([t.column(1).to_numpy() for t in tables]) if tables else []
        order = None
        if p.order_by is not None:
            order = np.concatenate([t.column(2).to_numpy(zero_copy_only=False) for t in tables])
        plan = plan_mix(codes, names, np.asarray(tokens, dtype=np.int64), p, order)
        used = np.zeros(len(codes), dtype=bool)
        used[plan["doc"]] = True
        if run.artifacts is not None:
            with scratch_of(run) as scratch:
                _write_stream(run, p.stream_docs, shards, sizes, codes, names, plan, scratch)
            manifest = {k: v for k, v in plan.items() if k not in ("doc", "epoch", "phase")}
            (run.artifacts / "manifest.json").write_text(json.dumps(manifest, indent=2))
        self.plan = plan
        out, start = [], 0
        for size in sizes:
            rows = np.nonzero(~used[start : start + size])[0]
            out.append(pa.table({
                "row": pa.array(rows, pa.int64()),
                "reason": pa.array(["not_mixed"] * len(rows), pa.string()),
                "duplicate_of": pa.nulls(len(rows), pa.string()),
                "cluster_size": pa.nulls(len(rows), pa.int64()),
                "reference_source": pa.nulls(len(rows), pa.string()),
            }, schema=DROPS_SCHEMA))  # fmt: skip
            start += size
        return out


def _number(value) -> float | None:
    """An ``order_by`` value as a number (None: absent or not a number)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def plan_mix(codes: np.ndarray, sources: list[str], tokens: np.ndarray, p: MixParams,
             order_values: np.ndarray | None = None) -> dict:  # fmt: skip
    """The stream: document index, epoch and phase at every position, and the manifest
    (``codes``: each document's source, an index into ``sources``; ``order_values``: each
    document's ``order_by`` value, NaN where it has none)."""
    names = sorted(sources[c] for c in np.unique(codes))
    code_of = {g: i for i, g in enumerate(sources)}
    if not names:  # no documents reached the stage
        nothing = np.zeros(0, np.int64)
        return {"doc": nothing, "epoch": nothing, "phase": nothing, "tokens": 0,
                "sources": {}, "schedule": [], "max_epochs": p.max_epochs}  # fmt: skip
    available = {g: int(tokens[codes == code_of[g]].sum()) for g in names}
    later = [(phase.fraction, phase.weights) for phase in p.later]
    phases = [(1.0 - sum(f for f, _ in later), p.weights), *later]
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
        docs = np.nonzero(codes == code_of[g])[0]
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
    if order_values is None:
        order = np.lexsort((doc, key))
    else:  # within each phase by the value (absent: last), then spread as without it
        value = order_values[doc] * (-1.0 if p.descending else 1.0)
        value = np.where(np.isnan(value), np.inf, value)
        order = np.lexsort((doc, key, value, np.concatenate(order_phase)))
    doc, key = doc[order], key[order]
    epoch = np.concatenate(order_epoch)[order] if order_epoch else doc
    phase = np.concatenate(order_phase)[order] if order_phase else doc
    for k in range(len(phases)):
        in_phase = phase == k
        phase_tokens = max(int(tokens[doc[in_phase]].sum()), 1)
        for g in names:
            mine = in_phase & (codes[doc] == code_of[g])
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


def _write_stream(
    run: RunContext, per_file: int, shards, sizes, codes, names, plan: dict, scratch: Path
) -> None:
    """The stream files, without the corpus in memory: each shard's task writes the documents
    it gives to each stream file (its ``stream_docs`` positions), then each stream file's task
    gathers its pieces in position order (an external shuffle through ``scratch``)."""
    run.artifacts.mkdir(parents=True, exist_ok=True)
    doc = plan["doc"]
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    shard_of = np.searchsorted(offsets, doc, side="right") - 1
    order = np.argsort(shard_of, kind="stable")  # positions by shard, in order within one
    bounds = np.searchsorted(shard_of[order], np.arange(len(shards) + 1))
    calls = []
    for s, load in enumerate(shards):
        positions = order[bounds[s] : bounds[s + 1]]
        if len(positions):
            calls.append((load, positions, doc[positions] - offsets[s], per_file, str(scratch), s))
    run.workers.map("mix stream", _pick_shard, calls)
    source = np.array(names, dtype=object)[codes[doc]] if len(doc) else np.zeros(0, object)
    run.workers.map("mix stream", _write_file, [
        (str(scratch), part, str(run.artifacts / f"stream-{part:05d}.parquet"),
         source[start : start + per_file].tolist(), plan["epoch"][start : start + per_file],
         plan["phase"][start : start + per_file])
        for part, start in enumerate(range(0, len(doc), per_file))
    ])  # fmt: skip


def _pick_shard(load, positions, rows, per_file: int, scratch: str, shard: int) -> None:
    """A worker's task: this shard's documents at their stream positions, one piece per
    stream file (chat records as OpenAI ``messages``)."""
    table = load(["id", "text", "messages"])
    files = positions // per_file
    cuts = np.flatnonzero(np.diff(files)) + 1
    for lo, hi in zip(np.concatenate([[0], cuts]), np.concatenate([cuts, [len(files)]])):
        chunk = openai_messages(table.take(pa.array(rows[lo:hi])))
        piece = chunk.append_column("position", pa.array(positions[lo:hi], pa.int64()))
        path = Path(scratch) / f"file-{files[lo]:05d}-shard-{shard:05d}.arrow"
        with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, piece.schema) as w:
            w.write_table(piece)


def _write_file(scratch: str, part: int, path: str, source, epoch, phase) -> None:
    """A worker's task: one stream file from its pieces, in position order."""
    pieces = []
    for piece in sorted(Path(scratch).glob(f"file-{part:05d}-shard-*.arrow")):
        with pa.memory_map(str(piece)) as f:
            pieces.append(pa.ipc.open_file(f).read_all())
    chunk = pa.concat_tables(pieces)
    chunk = chunk.take(pc.sort_indices(chunk.column("position")))
    table = pa.table({
        "position": chunk.column("position"), "id": chunk.column("id"),
        "source": pa.array(source, pa.string()), "epoch": epoch, "phase": phase,
        "text": chunk.column("text"), "messages": chunk.column("messages"),
    })  # fmt: skip
    pq.write_table(table, path)
