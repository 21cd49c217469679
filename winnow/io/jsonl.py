"""JSON Lines (plain, .gz, .zst): one JSON object per line."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.json as pj

from winnow.chat.output import CHAT_COLUMNS, chat_fields
from winnow.io.compression import CompressedWriter, compression_of, open_binary
from winnow.io.documents import is_plain_record, plain_documents
from winnow.io.inputs import InputError, InputFile
from winnow.schema import InvalidRecord

Record = tuple[Any, str]


BLOCK_BYTES = 8 << 20
"""Files are read in blocks of about this size (decompressed), cut at line ends."""


def iter_documents(f: InputFile) -> Iterator[Record | pa.RecordBatch]:
    """``iter_records``, parsed a block at a time by Arrow's JSON reader: a block whose every
    line is a plain record (``plain_documents``) comes as one batch of documents, any other
    block record by record. A file whose first record is not plain (it has metadata) is read
    record by record from the start, and a stream that fails (a truncated archive) goes on
    record by record from the first line not yet yielded, so what it yields is always
    ``iter_records``'."""
    left = None if f.end is None else f.end - f.start
    line = f.first_line
    with open_binary(f.path) as stream:
        if f.start:
            stream.seek(f.start)
        try:
            tail = stream.readline()  # a first record with metadata: no block is read
        except Exception:
            yield from iter_records(f)
            return
        if not _starts_plain(tail, f):  # on from this stream, the line read first
            yield from _records(f, itertools.chain([tail] if tail else [], stream))
            return
        if left is not None:
            left -= len(tail)
        while True:
            try:
                data = stream.read(BLOCK_BYTES if left is None else min(BLOCK_BYTES, left))
            except Exception:  # whatever it is, the record-by-record path meets it again
                yield from iter_records(f, skip_lines=line - f.first_line)
                return
            if left is not None:
                left -= len(data)
            block, tail = tail + data, b""
            if data:
                cut = block.rfind(b"\n") + 1
                block, tail = block[:cut], block[cut:]
            if block:
                yield from _block(f, block, line)
                line += block.count(b"\n") + (not block.endswith(b"\n"))
            if not data:
                return


def iter_records(f: InputFile, skip_lines: int = 0) -> Iterator[Record]:
    """Yield ``(record | InvalidRecord, "path:line")``; blank lines are not records. A piece
    of a file (``f.start``/``f.end``) yields its own lines, numbered as in the whole file;
    the first ``skip_lines`` lines are passed over."""
    with open_binary(f.path) as stream:
        if f.start:
            stream.seek(f.start)
        yield from _records(f, stream, skip_lines)


def _records(f: InputFile, lines: Iterable[bytes], skip_lines: int = 0) -> Iterator[Record]:
    """``iter_records`` over the lines of ``f``'s stream (or piece) from its start."""
    lineno = f.first_line - 1
    left = None if f.end is None else f.end - f.start
    try:
        for lineno, line in enumerate(lines, f.first_line):  # noqa: B007 - used after
            if left is not None:
                if left <= 0:
                    break
                left -= len(line)
            if skip_lines:
                skip_lines -= 1
                continue
            if not line.strip():
                continue
            source = f"{f.path}:{lineno}"
            try:
                yield orjson.loads(line), source
            except orjson.JSONDecodeError:
                yield _invalid(line), source
    except EOFError as exc:
        if lineno < f.first_line:
            raise InputError(f"{f.path}: truncated before the first record ({exc})") from exc
        yield InvalidRecord("truncated_file", str(exc)), f"{f.path}:{lineno + 1}"


def _parse_line(line: bytes, source: str) -> Record | None:
    """The record on one line; None for a blank line."""
    if not line.strip():
        return None
    try:
        return orjson.loads(line), source
    except orjson.JSONDecodeError:
        return _invalid(line), source


def _invalid(line: bytes) -> InvalidRecord:
    try:
        line.decode("utf-8")
    except UnicodeDecodeError:
        return InvalidRecord("utf8", "line is not valid UTF-8")
    return InvalidRecord("json", "line is not valid JSON")


def _block(f: InputFile, block: bytes, first_line: int) -> Iterator[Record | pa.RecordBatch]:
    """One block of whole lines: one batch of documents, or its records one by one."""
    batch = _plain_block(f, block, first_line) if _starts_plain(block, f) else None
    if batch is not None:
        yield batch
        return
    lines = block.split(b"\n")
    if block.endswith(b"\n"):
        lines.pop()
    for lineno, line in enumerate(lines, first_line):
        record = _parse_line(line, f"{f.path}:{lineno}")
        if record is not None:
            yield record


def _plain_block(f: InputFile, block: bytes, first_line: int) -> pa.RecordBatch | None:
    """The block's documents when each line is exactly one JSON object and every record is
    plain; None otherwise (a blank line, a line that is not one object, a parse error)."""
    codes = np.frombuffer(block, np.uint8)
    ends = np.flatnonzero(codes == 10)  # "\n"
    starts = np.concatenate([[0], ends + 1])
    ends = np.append(ends, len(codes))
    if block.endswith(b"\n"):
        starts, ends = starts[:-1], ends[:-1]
    # each line starts with "{" and ends with "}": no blank line, no object over two lines,
    # so Arrow's rows are the lines exactly when there are as many
    if (ends <= starts).any() or (codes[starts] != 123).any() or (codes[ends - 1] != 125).any():
        return None
    try:
        records = pj.read_json(
            pa.BufferReader(block),
            read_options=pj.ReadOptions(use_threads=False, block_size=len(block) + 1),
            parse_options=pj.ParseOptions(
                explicit_schema=pa.schema([(f.text_field, pa.large_string())]),
                unexpected_field_behavior="infer",
            ),
        )
    except pa.ArrowInvalid:
        return None
    if records.num_rows != len(starts):
        return None
    return plain_documents(records, f.text_field, f.id_field, f.path, first_line)


def write(
    path: str,
    batches: Iterable[pa.RecordBatch],
    compression: str | None = None,
    chat_format: str = "same",
) -> int:
    """Stream documents to JSON Lines; ``meta`` is embedded as an object, null fields omitted.
    A chat record is written as its turns (``chat_format``: ``same`` or ``openai``) instead of
    its ``text`` view. ``compression`` ('gzip', 'zstd' or None) defaults to what the file name
    implies. Returns the number of documents written."""
    count = 0
    with CompressedWriter(path, compression or compression_of(path)) as out:
        for batch in batches:
            columns = {name: batch.column(name).to_pylist() for name in batch.schema.names}
            metas = columns.pop("meta", None)
            chats = [None] * batch.num_rows
            if "messages" in columns and batch.column("messages").null_count < batch.num_rows:
                chats = chat_fields(columns["messages"], columns["chat_format"], chat_format)
            names = list(columns)
            lines = []
            for i in range(batch.num_rows):
                row = {n: columns[n][i] for n in names if columns[n][i] is not None}
                if chats[i] is not None:
                    for name in CHAT_COLUMNS:
                        row.pop(name, None)
                    row.update(chats[i])
                if metas is not None:
                    row["meta"] = orjson.Fragment(metas[i])
                lines.append(orjson.dumps(row, option=orjson.OPT_APPEND_NEWLINE))
            out.write(b"".join(lines))
            count += batch.num_rows
    return count


def _starts_plain(block: bytes, f: InputFile) -> bool:
    """Whether the block's first line is a plain record (``is_plain_record``)."""
    first = _parse_line(block.split(b"\n", 1)[0], "")
    return first is not None and is_plain_record(first[0], f.text_field, f.id_field)
