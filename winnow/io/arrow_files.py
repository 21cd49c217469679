"""Arrow IPC files that hold documents or columns between steps (segments, sink columns,
reference corpora): LZ4-compressed or (a run's scratch, by default) not, read back column by
column."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import pyarrow as pa

INTERMEDIATE = pa.ipc.IpcWriteOptions(compression="lz4", use_threads=False)
"""Parts kept beside a run or read by another (a dedup reference's, its index) are
LZ4-compressed Arrow IPC: text takes a fifth to a half of its size, and reads back at
~3 GB/s per core. Buffers are compressed (and, read with ``INTERMEDIATE_READ``,
decompressed) on the calling thread: the engine's parallelism is its worker processes, and
handing each buffer to Arrow's thread pool cost 7% of a MinHash run."""
INTERMEDIATE_READ = pa.ipc.IpcReadOptions(use_threads=False)
"""How intermediate files are read (see ``INTERMEDIATE``), compressed or not."""


SCRATCH_OPTIONS = {
    "lz4": INTERMEDIATE,
    "none": pa.ipc.IpcWriteOptions(compression=None, use_threads=False),
}
"""Write options of a run's segment and sink files, by the recipe's ``scratch_compression``:
``none`` spares compressing the text on write and decompressing it on every read (a MinHash
run on 1M paragraphs: 17.2 s against 20.2 s) for about twice the scratch disk."""


UNCOMPRESSED_MARK = {b"winnow.buffers": b"uncompressed"}
"""Footer metadata of a file written without compression (``scratch_writer``): its columns
are read by mapping them (``load_columns``). Arrow's reader copies every buffer it reads
when it is told which columns to read, even from a memory-mapped, uncompressed file."""


def scratch_writer(sink: pa.NativeFile, schema: pa.Schema, compression: str):
    """An Arrow IPC file writer for a run's segment or sink file (``SCRATCH_OPTIONS``),
    marked in its footer when its buffers are uncompressed."""
    mark = UNCOMPRESSED_MARK if compression == "none" else None
    return pa.ipc.new_file(sink, schema, options=SCRATCH_OPTIONS[compression], metadata=mark)


def schema_of(path: os.PathLike) -> pa.Schema:
    """The schema of an intermediate Arrow file (nothing read but its footer)."""
    with pa.memory_map(str(path)) as source:
        return pa.ipc.open_file(source).schema


def load_columns(path: os.PathLike, columns) -> pa.Table:
    """The named columns of an intermediate Arrow file (only their buffers are read and
    decompressed, or, in an uncompressed file, mapped; all columns when ``columns`` is
    None)."""
    with pa.memory_map(str(path)) as source:
        reader = pa.ipc.open_file(source, options=INTERMEDIATE_READ)
        if columns is None:
            return reader.read_all()
        if reader.metadata == UNCOMPRESSED_MARK:  # every column mapped, nothing copied
            return reader.read_all().select(list(columns))
        options = column_options(reader.schema, columns)
        table = pa.ipc.open_file(source, options=options).read_all()
    return table.select(list(columns))


def column_options(schema: pa.Schema, columns) -> pa.ipc.IpcReadOptions:
    """Read options that decode only ``columns`` of an Arrow file with ``schema``."""
    names = schema.names
    fields = sorted({names.index(c) for c in columns})
    return pa.ipc.IpcReadOptions(included_fields=fields, use_threads=INTERMEDIATE_READ.use_threads)


@dataclass(frozen=True)
class ShardFile:
    """A shard's intermediate documents (or a sink's kept columns) as picklable
    ``ShardColumns``."""

    path: str

    def __call__(self, columns) -> pa.Table:
        return load_columns(self.path, columns)

    @property
    def schema(self) -> pa.Schema:
        return schema_of(self.path)

    @property
    def rows(self) -> int:
        with pa.memory_map(self.path) as source:
            return pa.ipc.open_file(source).count_rows()

    def batches(self, columns) -> Iterator[pa.RecordBatch]:
        """The named columns, one record batch at a time (read from the file, not mapped:
        memory holds one batch)."""
        with pa.OSFile(self.path) as source:
            options = column_options(pa.ipc.open_file(source).schema, columns)
            reader = pa.ipc.open_file(source, options=options)
            for i in range(reader.num_record_batches):
                yield reader.get_batch(i).select(list(columns))


def write_tables(path: str | os.PathLike, tables: Iterable[pa.Table]) -> int:
    """The tables, one after another, as one LZ4 Arrow file (written under a temporary name,
    then renamed); no file when there is no row. Returns the rows written."""
    writer = sink = None
    rows = 0
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        for table in tables:
            if not table.num_rows:
                continue
            if writer is None:
                sink = pa.OSFile(tmp, "wb")
                writer = pa.ipc.new_file(sink, table.schema, options=INTERMEDIATE)
            writer.write_table(table)
            rows += table.num_rows
    finally:
        if writer is not None:
            writer.close()
            sink.close()
    if rows:
        os.replace(tmp, path)
    return rows
