"""Apache Parquet: any columns; the text column becomes ``text``, the rest ``meta``."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import replace

import pyarrow as pa
import pyarrow.parquet as pq

from winnow.io.inputs import InputError, InputFile
from winnow.io.remote import is_url, open_url
from winnow.io.tabular import iter_table_records


def iter_records(f: InputFile) -> Iterator:
    try:
        reader = pq.ParquetFile(open_url(f.path) if is_url(f.path) else f.path)
    except (OSError, pa.ArrowInvalid) as exc:
        raise InputError(f"{f.path}: not a readable Parquet file ({exc})") from exc
    if f.end is None and f.start == 0:
        yield from iter_table_records(f.path, reader.iter_batches(batch_size=4096))
        return
    groups = range(f.start, reader.num_row_groups if f.end is None else f.end)
    batches = reader.iter_batches(batch_size=4096, row_groups=list(groups))
    yield from iter_table_records(f.path, batches, row=f.first_line)


def split_row_groups(f: InputFile, target_bytes: int) -> list[InputFile]:
    """A large local Parquet file as pieces of whole row groups of about ``target_bytes``
    (uncompressed): ``start``/``end`` are row-group indexes, ``first_line`` the first row."""
    if is_url(f.path) or f.size * 4 <= target_bytes:
        return [f]
    meta = pq.ParquetFile(f.path).metadata
    pieces: list[InputFile] = []
    start = row = first = size = 0
    for g in range(meta.num_row_groups):
        group = meta.row_group(g)
        if g > start and size + group.total_byte_size > target_bytes:
            pieces.append(replace(f, start=start, end=g, first_line=first, piece_bytes=size))
            start, first, size = g, row, 0
        size += group.total_byte_size
        row += group.num_rows
    if not pieces:
        return [f]
    return [*pieces, replace(f, start=start, end=None, first_line=first, piece_bytes=size)]


def write(path: str, batches: Iterable[pa.RecordBatch], schema: pa.Schema) -> int:
    """Stream batches into one Parquet file (zstd); returns the number of rows written."""
    count = 0
    with pq.ParquetWriter(path, schema, compression="zstd") as writer:
        for batch in batches:
            writer.write_batch(batch, row_group_size=16384)
            count += batch.num_rows
    return count
