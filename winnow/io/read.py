"""Read a shard of input files into bounded Arrow batches plus ledger rows for bad records."""

from __future__ import annotations

import gzip
import zlib
from collections import Counter
from collections.abc import Iterator

import pyarrow as pa

from winnow.io import csv, hf_disk, jsonl, parquet, text, warc
from winnow.io.documents import DocumentBuilder
from winnow.io.inputs import InputError, InputFile, SkippedRecord
from winnow.ledger import Ledger
from winnow.schema import INVALID, InvalidRecord, document_id, stable_id

READERS = {
    "jsonl": jsonl.iter_records,
    "parquet": parquet.iter_records,
    "csv": csv.iter_records,
    "tsv": csv.iter_records,
    "text": text.iter_records,
    "hf_disk": hf_disk.iter_records,
    "warc": warc.iter_records,
}
DOCUMENT_READERS = {"jsonl": jsonl.iter_documents}
"""Readers that may also yield whole batches of documents (``DocumentBuilder.add_documents``)."""
READ_STAGE = "read"


def _record_id(record: object, id_field: str, source: str) -> str:
    return document_id(record.get(id_field) if isinstance(record, dict) else None, source)


_STREAM_ERRORS = (OSError, EOFError, ValueError, zlib.error, pa.ArrowException, gzip.BadGzipFile)


def read_shard(
    files: list[InputFile],
    batch_docs: int = 2048,
    batch_bytes: int = 32 << 20,
    skipped: Counter | None = None,
) -> Iterator[tuple[pa.RecordBatch | None, Ledger]]:
    """Yield ``(documents, invalid-input ledger rows)``; batches stay under the size limits.
    Records that are no documents by design (``SkippedRecord``: a WARC request) are counted
    by kind in ``skipped``. An invalid record may name itself (``record_id``: a WARC record
    id); otherwise its ledger id is derived from its source."""
    for f in files:
        builder = DocumentBuilder(text_field=f.text_field, id_field=f.id_field)
        invalid = Ledger()
        seen = 0
        records = DOCUMENT_READERS.get(f.format, READERS[f.format])(f)
        try:
            for item in records:
                if isinstance(item, pa.RecordBatch):  # documents parsed a block at a time
                    seen += item.num_rows
                    for full in builder.add_documents(item, batch_docs, batch_bytes):
                        yield full, invalid
                        invalid = Ledger()
                    continue
                record, source = item
                seen += 1
                if isinstance(record, SkippedRecord):
                    if skipped is not None:
                        skipped[record.kind] += 1
                    continue
                if isinstance(record, InvalidRecord):
                    invalid.add(
                        getattr(record, "record_id", None) or stable_id(source),
                        source,
                        READ_STAGE,
                        f"{INVALID}:{record.reason}",
                        detail=record.detail,
                    )
                    continue
                try:
                    builder.add(record, source)
                except InvalidRecord as bad:
                    doc_id = _record_id(record, f.id_field, source)
                    invalid.add(
                        doc_id, source, READ_STAGE, f"{INVALID}:{bad.reason}", detail=bad.detail
                    )
                if len(builder) >= batch_docs or builder.text_bytes >= batch_bytes:
                    yield builder.flush(), invalid
                    invalid = Ledger()
        except InputError:
            raise
        except _STREAM_ERRORS as exc:
            whole = f.start == 0 and f.end is None
            if seen == 0 and whole:
                raise InputError(f"{f.path}: cannot be read ({exc})") from exc
            base = 0 if whole or f.format != "parquet" else f.first_line  # rows before the piece
            source = f"{f.path}:after-record-{base + seen}"
            invalid.add(stable_id(source), source, READ_STAGE, f"{INVALID}:corrupt_file")
        if seen == 0 and f.start == 0 and (f.end is None or _blank_after(f.path, f.end)):
            source = f"{f.path}:0"  # (a later piece of a file may hold none: not empty)
            invalid.add(stable_id(source), source, READ_STAGE, f"{INVALID}:empty_file")
        if len(builder) or len(invalid):
            yield (builder.flush() if len(builder) else None), invalid


def _blank_after(path: str, offset: int, block: int = 1 << 24) -> bool:
    """Whether a plain file holds nothing but whitespace from ``offset`` on: the first piece
    of a split file that held no record names the file empty only if the others hold none."""
    with open(path, "rb") as fh:
        fh.seek(offset)
        while chunk := fh.read(block):
            if chunk.strip():
                return False
    return True
