"""Apache Parquet: any columns; the text column becomes ``text``, the rest ``meta``."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

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
    yield from iter_table_records(f.path, reader.iter_batches(batch_size=4096))


def write(path: str, batches: Iterable[pa.RecordBatch], schema: pa.Schema) -> int:
    """Stream batches into one Parquet file (zstd); returns the number of rows written."""
    count = 0
    with pq.ParquetWriter(path, schema, compression="zstd") as writer:
        for batch in batches:
            writer.write_batch(batch, row_group_size=16384)
            count += batch.num_rows
    return count
