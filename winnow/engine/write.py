"""The final phase: cut the kept documents into numbered parts and write them in parallel.

Part boundaries depend only on the documents (count and text bytes, in input order), so the
output is identical whatever the number of workers, and each part is its own resumable task.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from winnow.chat.output import openai_messages
from winnow.engine.layout import Layout, tmp_path
from winnow.io import jsonl, parquet
from winnow.io.arrow_files import load_columns, schema_of
from winnow.io.compression import compression_of, open_binary


@dataclass(frozen=True)
class PartSpec:
    number: int
    slices: tuple[tuple[int, int, int], ...]  # (shard, start, stop)


def plan_parts(
    doc_bytes: list[np.ndarray], shard_docs: int | None, shard_bytes: int | None
) -> list[PartSpec]:
    """Greedy cut of the concatenated documents: a part closes when it reaches ``shard_docs``
    documents or adding the next document would pass ``shard_bytes``."""
    sizes = np.concatenate(doc_bytes) if doc_bytes else np.zeros(0, np.int64)
    shard_of = np.concatenate([np.full(len(b), s) for s, b in enumerate(doc_bytes)] or [[]])
    row_of = np.concatenate([np.arange(len(b)) for b in doc_bytes] or [[]])
    cum = np.concatenate([[0], np.cumsum(sizes)])
    n, start, cuts = len(sizes), 0, []
    while start < n:
        stop = min(n, start + shard_docs) if shard_docs else n
        if shard_bytes:
            fits = int(np.searchsorted(cum, cum[start] + shard_bytes, side="right")) - 1
            stop = min(stop, max(fits, start + 1))
        cuts.append((start, stop))
        start = stop
    parts = []
    for number, (a, b) in enumerate(cuts):
        slices = []
        for s in np.unique(shard_of[a:b]):
            rows = row_of[a:b][shard_of[a:b] == s]
            slices.append((int(s), int(rows[0]), int(rows[-1]) + 1))
        parts.append(PartSpec(number, tuple(slices)))
    return parts


def doc_sizes(layout: Layout, seg: int, shard: int) -> np.ndarray:
    text = load_columns(layout.segment_docs(seg, shard), ["text"]).column("text")
    return pc.binary_length(text).to_numpy(zero_copy_only=False).astype(np.int64)


def write_part(
    out: str,
    seg: int,
    fmt: str,
    part: PartSpec,
    chat_format: str = "same",
    work: str | None = None,
    drop_columns: tuple[str, ...] = (),
    batch_rows: int = 2048,
) -> int:
    """Stream one part from the final segment's shard files; returns its document count.
    Chat records are written as their turns (``chat_format``: each in its input format, or
    OpenAI ``messages``; Parquet always holds OpenAI ``messages`` as JSON), not their view."""
    layout = Layout(out, work)
    schema = schema_of(layout.segment_docs(seg, part.slices[0][0]))
    public = [c for c in schema.names if not c.startswith("_") and c not in drop_columns]

    def batches():
        for shard, start, stop in part.slices:
            table = load_columns(layout.segment_docs(seg, shard), public)
            yield from table.slice(start, stop - start).to_batches(max_chunksize=batch_rows)

    path = layout.part(part.number, fmt)
    tmp = tmp_path(path)
    if fmt == "parquet":
        chat_rows = (openai_messages(b) for b in batches())
        count = parquet.write(str(tmp), chat_rows, pa.schema([schema.field(c) for c in public]))
    else:
        count = jsonl.write(str(tmp), batches(), compression_of(path), chat_format)
    os.replace(tmp, path)
    return count


def count_rows(path: str, fmt: str) -> int:
    """Documents in a written part, read back from disk (for the conservation check)."""
    if fmt == "parquet":
        return pq.ParquetFile(path).metadata.num_rows
    with open_binary(path) as fh:
        return sum(1 for _ in fh)


LEDGER_ROWS = 500_000
"""Rows per ledger part."""


def write_ledger(layout: Layout, n_segments: int, n_shards: int, rows: int = LEDGER_ROWS) -> int:
    """The ledger pieces of every segment and shard, in that order (input order within a
    segment), cut into parts of ``rows`` rows: like the data parts, they depend only on the
    removed documents, not on how the input was sharded. Returns the number of parts."""
    pending: list[pa.Table] = []
    size = number = 0

    def flush(table: pa.Table) -> None:
        nonlocal number
        path = layout.ledger_part(number)
        tmp = tmp_path(path)
        pq.write_table(table, tmp, compression="zstd", row_group_size=rows)
        os.replace(tmp, path)
        number += 1

    for seg in range(n_segments):
        for shard in range(n_shards):
            piece = layout.ledger_piece(seg, shard)
            if not piece.exists():
                continue
            pending.append(pq.read_table(piece))
            size += pending[-1].num_rows
            while size >= rows:
                whole = pa.concat_tables(pending)
                flush(whole.slice(0, rows))
                rest = whole.slice(rows)
                pending, size = [rest], rest.num_rows
    if size:
        flush(pa.concat_tables(pending))
    return number
