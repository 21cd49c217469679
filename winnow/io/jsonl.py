"""JSON Lines (plain, .gz, .zst): one JSON object per line."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import orjson
import pyarrow as pa

from winnow.chat.output import CHAT_COLUMNS, chat_fields
from winnow.io.compression import CompressedWriter, compression_of, open_binary
from winnow.io.inputs import InputError, InputFile
from winnow.schema import InvalidRecord

Record = tuple[Any, str]


def iter_records(f: InputFile) -> Iterator[Record]:
    """Yield ``(record | InvalidRecord, "path:line")``; blank lines are not records. A piece
    of a file (``f.start``/``f.end``) yields its own lines, numbered as in the whole file."""
    lineno = f.first_line - 1
    left = None if f.end is None else f.end - f.start
    with open_binary(f.path) as stream:
        if f.start:
            stream.seek(f.start)
        try:
            for lineno, line in enumerate(stream, f.first_line):  # noqa: B007 - used after
                if left is not None:
                    if left <= 0:
                        break
                    left -= len(line)
                if not line.strip():
                    continue
                source = f"{f.path}:{lineno}"
                try:
                    yield orjson.loads(line), source
                except orjson.JSONDecodeError:
                    try:
                        line.decode("utf-8")
                    except UnicodeDecodeError:
                        yield InvalidRecord("utf8", "line is not valid UTF-8"), source
                    else:
                        yield InvalidRecord("json", "line is not valid JSON"), source
        except EOFError as exc:
            if lineno < f.first_line:
                raise InputError(f"{f.path}: truncated before the first record ({exc})") from exc
            yield InvalidRecord("truncated_file", str(exc)), f"{f.path}:{lineno + 1}"


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
