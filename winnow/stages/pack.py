"""``pack``: the ``tokens`` of every document (from ``tokenize``) packed into training
sequences of ``seq_len`` tokens, written as numpy memmaps (uint16 when every id fits,
else uint32) with an index.

Strategies:
- ``concat``: one stream of all documents, cut every ``seq_len`` tokens (GPT-style);
  a document crossing a cut is split (counted as truncated).
- ``best_fit``: best-fit decreasing bin packing of whole documents (Ding et al. 2024,
  "Fewer Truncations Improve Language Modeling"): only documents longer than ``seq_len`` are
  cut into ``seq_len`` pieces; each piece goes to the fullest sequence with room, the rest
  of a sequence is padding (``pad_id``). Packing runs within each ``window`` of documents
  (20,000 by default, in corpus order), so memory is one window's tokens at any corpus size.
- ``buckets``: each document split into pieces whose lengths are powers of two up to
  ``seq_len`` (its length's binary decomposition, Pouransari et al. 2024, "Dataset
  Decomposition"); a bucket per length, each its own memmap of ``length``-token rows: no
  padding, no piece crossing documents.

``pack`` is a sink: it reads the tokens as they stream past and writes the sequences once
every shard has passed, without a barrier. Every token of every document is in exactly one
sequence. Written to the run's
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

from winnow.stages.base import ExampleFiles, Params, RunContext, ShardColumns, register
from winnow.stages.token_sink import TokenSink, masked, max_token


class PackParams(Params):
    seq_len: int = Field(2048, ge=2)
    strategy: Literal["best_fit", "concat", "buckets"] = "best_fit"
    pad_id: int = Field(0, ge=0)
    window: int = Field(20_000, ge=1)
    """Documents packed together: best-fit decreasing runs within each window of this many
    documents (in corpus order), so memory holds one window's tokens whatever the corpus
    size; ``concat`` and ``buckets`` give the same sequences for any window."""
    path: str | None = None
    """Where to write the sequences (default: the run's artifacts/ folder)."""


@register
class Pack(TokenSink):
    """Pack tokenised documents into fixed-length training sequences."""

    name = "pack"
    ParamsModel = PackParams
    summary = "token sequences of seq_len: best-fit decreasing, concat-and-chunk or buckets"
    origin = "Ding et al. 2024 (best-fit packing); Pouransari et al. 2024 (buckets)"
    example_before = (("tokenize", {"train_vocab": 300, "chat_template": "chatml"}),)

    @classmethod
    def examples(cls, files: ExampleFiles) -> list[dict]:
        return [{"seq_len": 64, "strategy": s} for s in ("best_fit", "concat", "buckets")]

    def finish(self, shards: Sequence[ShardColumns], run: RunContext) -> dict:
        p = self.params
        with_mask = masked(shards)
        top = max_token(shards)
        dtype = np.uint16 if (top < 65535 and p.pad_id < 65535) else np.uint32
        writer = SequenceWriter(self.folder(run), p, dtype, with_mask)
        columns = ["id", "tokens", "loss_mask"] if with_mask else ["id", "tokens"]
        pending: list[pa.RecordBatch] = []
        size = 0
        for shard in shards:
            for batch in shard.batches(columns):
                pending.append(batch)
                size += batch.num_rows
                while size >= p.window:
                    whole = pa.Table.from_batches(pending).combine_chunks()
                    writer.add(whole.slice(0, p.window))
                    rest = whole.slice(p.window)
                    pending, size = rest.to_batches(), rest.num_rows
        if size:
            writer.add(pa.Table.from_batches(pending).combine_chunks())
        return writer.close()


# A plan is a table of pieces: (row, length, doc, start) per piece, ``row`` numbering the
# sequences of one output array, ``length`` = sequence length of that array (``buckets``
# has one array per length).


def plan_concat(lengths: np.ndarray, seq_len: int, start: int = 0) -> dict[int, np.ndarray]:
    """Cut the stream of all documents every ``seq_len`` tokens; ``start``: the stream
    position of the first document (rows are numbered in the whole stream)."""
    ends = start + np.cumsum(lengths)
    starts = ends - lengths
    end = int(ends[-1]) if len(ends) else start
    cuts = np.arange(-(-start // seq_len) * seq_len, end, seq_len)
    # pieces: every document start and every cut, in stream order
    bounds = np.unique(np.concatenate([starts[lengths > 0], cuts, [end]]))
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


class SequenceWriter:
    """Packs windows of documents and appends their sequences to ``tokens-{W}.bin`` (and
    ``mask-{W}.bin``) in order, with ``pieces.parquet`` and ``index.json``: files are
    written under temporary names and renamed into place by ``close``."""

    def __init__(self, folder: Path, p: PackParams, dtype, masked: bool) -> None:
        self.folder, self.p, self.dtype, self.masked = folder, p, dtype, masked
        folder.mkdir(parents=True, exist_ok=True)
        self.files: dict[int, tuple] = {}  # width -> (tokens file, mask file or None)
        self.rows: dict[int, int] = {}  # width -> sequences written
        self.carry: dict[int, tuple] = {}  # concat: the unfinished last row (tokens, mask)
        self.pieces: pq.ParquetWriter | None = None
        self.documents = self.tokens = self.trained = self.truncated = 0

    def _tmp(self, name: str) -> Path:
        return self.folder / f".{name}.tmp-{os.getpid()}"

    def add(self, window: pa.Table) -> None:
        """Pack one window (``id``, ``tokens`` and maybe ``loss_mask``) and write it."""
        p = self.p
        tokens = window.column("tokens").combine_chunks()
        lengths = pc.list_value_length(tokens).fill_null(0).to_numpy(zero_copy_only=False)
        lengths = lengths.astype(np.int64)
        flat = pc.list_flatten(tokens).to_numpy(zero_copy_only=False)
        mask = None
        if self.masked:
            column = window.column("loss_mask").combine_chunks()
            counts = pc.list_value_length(column).fill_null(0).to_numpy(zero_copy_only=False)
            if not np.array_equal(counts, lengths):
                raise ValueError("loss_mask and tokens differ in length (re-run tokenize)")
            mask = pc.list_flatten(column).to_numpy(zero_copy_only=False).astype(np.uint8)
            self.trained += int(mask.sum())
        if p.strategy == "concat":
            plans = plan_concat(lengths, p.seq_len, self.tokens)
        elif p.strategy == "best_fit":
            plans = plan_best_fit(lengths, p.seq_len)
        else:
            plans = plan_buckets(lengths, p.seq_len)
        doc_start = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
        ids = window.column("id").combine_chunks()
        split = np.zeros(len(lengths), dtype=np.int64)
        for width, plan in plans.items():
            if p.strategy != "concat":  # rows numbered within the window
                plan = plan.copy()
                plan[:, 0] += self.rows.get(width, 0)
            self._place(width, plan, flat, mask, doc_start)
            split += np.bincount(plan[:, 3], minlength=len(lengths))
            row, offset, size, doc, start = plan.T
            pieces = pa.table({
                "width": np.full(len(plan), width), "sequence": row, "offset": offset,
                "length": size, "id": ids.take(pa.array(doc)), "start": start,
            })  # fmt: skip
            if self.pieces is None:
                self.pieces = pq.ParquetWriter(self._tmp("pieces.parquet"), pieces.schema)
            self.pieces.write_table(pieces)
        self.documents += len(lengths)
        self.tokens += int(lengths.sum())
        self.truncated += int((split > 1).sum())

    def _place(self, width: int, plan: np.ndarray, flat, mask, doc_start) -> None:
        """Fill the rows the plan touches (every piece's tokens with one fancy index) and
        append the finished ones."""
        first = self.rows.get(width, 0)
        if not len(plan):
            return
        rows = int(plan[:, 0].max()) + 1 - first
        block = np.full((rows, width), self.p.pad_id, dtype=self.dtype)
        bits = np.zeros((rows, width), dtype=np.uint8) if mask is not None else None
        if width in self.carry:  # concat: the row the last window left unfinished
            block[0], carried = self.carry.pop(width)
            if bits is not None:
                bits[0] = carried
        row, offset, size, doc, start = plan.T
        within = np.arange(int(size.sum())) - np.repeat(np.cumsum(size) - size, size)
        source = np.repeat(doc_start[doc] + start, size) + within
        target_row = np.repeat(row - first, size)
        target_col = np.repeat(offset, size) + within
        block[target_row, target_col] = flat[source]
        if bits is not None:
            bits[target_row, target_col] = mask[source]
        done = rows
        if self.p.strategy == "concat" and (self.tokens + len(flat)) % width:
            done = rows - 1  # the last row goes on in the next window
            rest = bits[done].copy() if bits is not None else None
            self.carry[width] = (block[done].copy(), rest)
        self._append(width, block[:done], bits[:done] if bits is not None else None)

    def _append(self, width: int, block: np.ndarray, bits: np.ndarray | None) -> None:
        if width not in self.files:
            tokens = open(self._tmp(f"tokens-{width}.bin"), "wb")  # noqa: SIM115
            masks = open(self._tmp(f"mask-{width}.bin"), "wb") if self.masked else None  # noqa: SIM115
            self.files[width] = (tokens, masks)
        tokens, masks = self.files[width]
        tokens.write(block.tobytes())
        if masks is not None and bits is not None:
            masks.write(bits.tobytes())
        self.rows[width] = self.rows.get(width, 0) + len(block)

    def close(self) -> dict:
        """Finish the files and write ``index.json``; returns its statistics."""
        for width, (row, bits) in list(self.carry.items()):
            self._append(width, row[None], bits[None] if bits is not None else None)
        self.carry.clear()
        names = []
        for width, (tokens, masks) in sorted(self.files.items()):
            tokens.close()
            names.append(f"tokens-{width}.bin")
            if masks is not None:
                masks.close()
                names.append(f"mask-{width}.bin")
        if self.pieces is not None:
            self.pieces.close()
            names.append("pieces.parquet")
        for name in names:
            os.replace(self._tmp(name), self.folder / name)
        used = sum(n * w for w, n in self.rows.items())
        p = self.p
        stats = {
            "strategy": p.strategy,
            "seq_len": p.seq_len,
            "window": p.window,
            "dtype": np.dtype(self.dtype).name,
            "documents": self.documents,
            "tokens": self.tokens,
            "sequences": {str(w): n for w, n in sorted(self.rows.items())},
            "documents_truncated": self.truncated,
            "padding_fraction": round(1 - self.tokens / used, 6) if used else 0.0,
        }
        if self.masked:
            stats["loss_mask"] = {
                "dtype": "uint8",
                "files": {str(w): f"mask-{w}.bin" for w in sorted(self.rows)},
                "tokens": self.trained,
            }
        (self.folder / "index.json").write_text(json.dumps(stats, indent=2, sort_keys=True))
        return stats
