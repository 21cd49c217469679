"""``pack``: the ``tokens`` of every document (from ``tokenize``) packed into training
sequences of ``seq_len`` tokens, written as numpy memmaps (uint16 when every id fits,
else uint32) with an index.

Strategies:
- ``concat``: one stream of all documents, cut every ``seq_len`` tokens (GPT-style);
  a document crossing a cut is split (counted as truncated).
- ``best_fit``: best-fit decreasing bin packing of whole documents (Ding et al. 2024,
  "Fewer Truncations Improve Language Modeling"): only documents longer than ``seq_len`` are
  cut into ``seq_len`` pieces; each piece goes to the fullest sequence with room, the rest
  of a sequence is padding (``pad_id``).
- ``buckets``: each document split into pieces whose lengths are powers of two up to
  ``seq_len`` (its length's binary decomposition, Pouransari et al. 2024, "Dataset
  Decomposition"); a bucket per length, each its own memmap of ``length``-token rows: no
  padding, no piece crossing documents.

Every token of every document is in exactly one sequence. Written to the run's
``artifacts/NN-pack/`` folder (or ``path``): ``tokens-*.bin``, ``index.json`` (shapes, dtype,
statistics) and ``pieces.parquet`` (sequence, offset, length, document id, token start of
the piece in its document), from which every document can be rebuilt. No document is
removed.

Loss masks: when the documents have a ``loss_mask`` (``tokenize`` with ``chat_template``:
true on assistant tokens of chat rows, on every token of plain rows), each ``tokens-{W}.bin``
gets a ``mask-{W}.bin`` of the same shape (uint8: 1 where the token is trained, 0 elsewhere
and on padding), each token's bit at its token's place; ``index.json`` lists them under
``loss_mask`` (``dtype``, ``files`` by width, ``tokens``: trained tokens), so fine-tuning
code reads assistant-only loss beside the tokens.
"""

from __future__ import annotations

import bisect
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pydantic import Field

from winnow.stages.base import (
    DROPS_SCHEMA,
    CorpusStage,
    ExampleFiles,
    Params,
    ShardColumns,
    register,
)


class PackParams(Params):
    seq_len: int = Field(2048, ge=2)
    strategy: Literal["best_fit", "concat", "buckets"] = "best_fit"
    pad_id: int = Field(0, ge=0)
    path: str | None = None
    """Where to write the sequences (default: the run's artifacts/ folder)."""


@register
class Pack(CorpusStage):
    """Pack tokenised documents into fixed-length training sequences."""

    name = "pack"
    needs = ("tokens",)
    ParamsModel = PackParams
    summary = "token sequences of seq_len: best-fit decreasing, concat-and-chunk or buckets"
    origin = "Ding et al. 2024 (best-fit packing); Pouransari et al. 2024 (buckets)"
    example_before = (("tokenize", {"train_vocab": 300, "chat_template": "chatml"}),)

    @classmethod
    def examples(cls, files: ExampleFiles) -> list[dict]:
        return [{"seq_len": 64, "strategy": s} for s in ("best_fit", "concat", "buckets")]

    def map(self, batch: pa.RecordBatch) -> dict[str, pa.Array]:
        if "tokens" not in batch.schema.names:
            raise ValueError("pack needs a tokenize stage before it (no tokens column)")
        return {}

    def reduce(self, shards: Sequence[ShardColumns]) -> list[pa.Table]:
        p = self.params
        masked = bool(shards) and all("loss_mask" in load(None).schema.names for load in shards)
        columns = ["id", "tokens", "loss_mask"] if masked else ["id", "tokens"]
        tables = [load(columns) for load in shards]
        ids = pa.concat_arrays([t.column("id").combine_chunks() for t in tables])
        tokens = pa.concat_arrays([t.column("tokens").combine_chunks() for t in tables])
        lengths = pc.list_value_length(tokens).to_numpy(zero_copy_only=False).astype(np.int64)
        flat = pc.list_flatten(tokens).to_numpy(zero_copy_only=False)
        mask = None
        if masked:
            column = pa.concat_arrays([t.column("loss_mask").combine_chunks() for t in tables])
            counts = pc.list_value_length(column).fill_null(0).to_numpy(zero_copy_only=False)
            if not np.array_equal(counts, lengths):
                raise ValueError("loss_mask and tokens differ in length (re-run tokenize)")
            mask = pc.list_flatten(column).to_numpy(zero_copy_only=False).astype(np.uint8)
        pieces = PLANS[p.strategy](lengths, p.seq_len)
        folder = Path(p.path) if p.path is not None else self.artifacts
        self.result = write_sequences(folder, pieces, flat, lengths, ids, p, mask)
        return [DROPS_SCHEMA.empty_table() for _ in tables]


# A plan is a table of pieces: (row, length, doc, start) per piece, ``row`` numbering the
# sequences of one output array, ``length`` = sequence length of that array (``buckets``
# has one array per length).


def plan_concat(lengths: np.ndarray, seq_len: int) -> dict[int, np.ndarray]:
    """Cut the stream of all documents every ``seq_len`` tokens."""
    ends = np.cumsum(lengths)
    starts = ends - lengths
    total = int(ends[-1]) if len(ends) else 0
    cuts = np.arange(0, total, seq_len)
    # pieces: every document start and every cut, in stream order
    bounds = np.unique(np.concatenate([starts[lengths > 0], cuts, [total]]))
    piece_start, piece_end = bounds[:-1], bounds[1:]
    doc = np.searchsorted(ends, piece_start, side="right")
    rows = piece_start // seq_len
    offset = piece_start - rows * seq_len
    return {seq_len: np.stack([rows, offset, piece_end - piece_start, doc,
                               piece_start - starts[doc]], axis=1)}  # fmt: skip


def plan_best_fit(lengths: np.ndarray, seq_len: int) -> dict[int, np.ndarray]:
    """Best-fit decreasing: pieces (documents, cut at ``seq_len``) sorted longest first,
    each into the open sequence with the least room that still fits it."""
    doc = np.repeat(np.arange(len(lengths)), -(-lengths // seq_len))
    first = np.concatenate([[0], np.cumsum(-(-lengths // seq_len))[:-1]])
    k = np.arange(len(doc)) - first[doc]  # piece number within its document
    start = k * seq_len
    size = np.minimum(lengths[doc] - start, seq_len)
    order = np.lexsort((np.arange(len(doc)), -size))
    room_of: list[int] = []  # remaining room of each sequence
    by_room: dict[int, list[int]] = {}  # room -> sequences with that room (a stack)
    rooms: list[int] = []  # sorted distinct rooms with a sequence
    row = np.empty(len(doc), dtype=np.int64)
    offset = np.empty(len(doc), dtype=np.int64)
    for i in order.tolist():
        need = int(size[i])
        at = bisect.bisect_left(rooms, need)
        if at < len(rooms):
            room = rooms[at]
            seq = by_room[room].pop()
            if not by_room[room]:
                del rooms[at]
        else:
            room, seq = seq_len, len(room_of)
            room_of.append(seq_len)
        row[i], offset[i] = seq, seq_len - room
        left = room - need
        room_of[seq] = left
        if left:
            if left not in by_room or not by_room[left]:
                by_room[left] = []
                bisect.insort(rooms, left)
            by_room[left].append(seq)
    return {seq_len: np.stack([row, offset, size, doc, start], axis=1)}


def plan_buckets(lengths: np.ndarray, seq_len: int) -> dict[int, np.ndarray]:
    """Each document as pieces of power-of-two lengths (its binary decomposition, after
    cutting it into ``seq_len`` blocks when ``seq_len`` is a power of two); one array per
    length, one row per piece."""
    top = 1 << (seq_len.bit_length() - 1)  # the largest power of two <= seq_len
    out: dict[int, list[tuple[int, int]]] = {}
    for d, n in enumerate(lengths.tolist()):
        start = 0
        while n - start >= top:
            out.setdefault(top, []).append((d, start))
            start += top
        rest = n - start
        for bit in range(top.bit_length() - 1, -1, -1):
            if rest & (1 << bit):
                out.setdefault(1 << bit, []).append((d, start))
                start += 1 << bit
    plans = {}
    for size, pieces in sorted(out.items()):
        d = np.array([x for x, _ in pieces], dtype=np.int64)
        s = np.array([y for _, y in pieces], dtype=np.int64)
        plans[size] = np.stack(
            [np.arange(len(d)), np.zeros(len(d), np.int64), np.full(len(d), size), d, s], axis=1
        )
    return plans


PLANS = {"concat": plan_concat, "best_fit": plan_best_fit, "buckets": plan_buckets}


def write_sequences(folder, plans, flat, lengths, ids, p: PackParams, mask=None) -> dict:
    """Fill and write one memmap per plan (and one of ``mask``, the flat uint8 loss mask of
    the tokens, when given); returns the statistics (also in index.json)."""
    dtype = np.uint16 if (flat.max(initial=0) < 65535 and p.pad_id < 65535) else np.uint32
    doc_start = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    arrays, masks, tables = {}, {}, []
    for width, plan in plans.items():
        rows = int(plan[:, 0].max()) + 1 if len(plan) else 0
        out = np.full((rows, width), p.pad_id, dtype=dtype)
        row, offset, size, doc, start = plan.T
        # every piece's tokens, copied with one fancy index
        within = np.arange(int(size.sum())) - np.repeat(np.cumsum(size) - size, size)
        source = np.repeat(doc_start[doc] + start, size) + within
        target_row = np.repeat(row, size)
        target_col = np.repeat(offset, size) + within
        out[target_row, target_col] = flat[source]
        arrays[width] = out
        if mask is not None:  # each token's bit, by the same index
            bits = np.zeros((rows, width), dtype=np.uint8)
            bits[target_row, target_col] = mask[source]
            masks[width] = bits
        tables.append(pa.table({
            "width": np.full(len(plan), width), "sequence": row, "offset": offset,
            "length": size, "id": ids.take(pa.array(doc)), "start": start,
        }))  # fmt: skip
    pieces = pa.concat_tables(tables) if tables else None
    used = sum(a.size for a in arrays.values())
    tokens = int(lengths.sum())
    split = np.bincount(np.concatenate([t[:, 3] for t in plans.values()]) if plans else [],
                        minlength=len(lengths))  # fmt: skip
    stats = {
        "strategy": p.strategy,
        "seq_len": p.seq_len,
        "dtype": np.dtype(dtype).name,
        "documents": len(lengths),
        "tokens": tokens,
        "sequences": {str(w): int(a.shape[0]) for w, a in arrays.items()},
        "documents_truncated": int((split > 1).sum()),
        "padding_fraction": round(1 - tokens / used, 6) if used else 0.0,
    }
    if mask is not None:
        stats["loss_mask"] = {
            "dtype": "uint8",
            "files": {str(w): f"mask-{w}.bin" for w in masks},
            "tokens": int(mask.sum()),
        }
    if folder is not None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        for width, array in arrays.items():
            _write_array(folder / f"tokens-{width}.bin", array)
        for width, bits in masks.items():
            _write_array(folder / f"mask-{width}.bin", bits)
        if pieces is not None:
            pq.write_table(pieces, folder / "pieces.parquet")
        (folder / "index.json").write_text(json.dumps(stats, indent=2, sort_keys=True))
    stats["arrays"], stats["pieces"] = arrays, pieces
    if mask is not None:
        stats["masks"] = masks
    return stats


def _write_array(path: Path, array: np.ndarray) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    array.tofile(tmp)
    os.replace(tmp, path)
