"""Parsed records → Arrow batches of documents (``winnow.schema.DOC_SCHEMA``)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from winnow.chat.edits import dumps
from winnow.chat.formats import read_chat
from winnow.chat.view import render
from winnow.schema import DOC_SCHEMA, InvalidRecord, document_id, stable_id


def _nested_meta(value: Any) -> dict:
    """A record's own ``meta`` object (or its JSON text, as winnow writes to Parquet)."""
    if isinstance(value, str) and value.startswith("{"):
        try:
            value = orjson.loads(value)
        except orjson.JSONDecodeError:
            return {"meta": value}
    if isinstance(value, dict):
        return dict(value)
    return {} if value is None else {"meta": value}


CHAT_FIELDS = frozenset({"messages", "conversations", "steps"})
"""Fields ``read_chat`` reads a conversation from: a record's text there is no plain text."""


def is_plain_record(record: Any, text_field: str, id_field: str) -> bool:
    """A record of only a text string and perhaps an id (the common case): its document has
    no chat turns and an empty ``meta``."""
    return (
        isinstance(record, dict)
        and isinstance(record.get(text_field), str)
        and text_field not in CHAT_FIELDS
        and record.keys() <= {text_field, id_field}
    )


def plain_documents(
    records: pa.Table, text_field: str, id_field: str, path: str, first_line: int
) -> pa.RecordBatch | None:
    """Records parsed column-wise (record ``i`` on line ``first_line + i`` of ``path``) as
    the documents ``DocumentBuilder.add`` would make of them one by one, when every record is
    plain: a non-null text string and perhaps an id (a string or an integer; null, missing or
    empty gives ``stable_id``), nothing else. None when any record is not, or holds invalid
    UTF-8: such records take the general path."""
    names = set(records.column_names)
    if text_field in CHAT_FIELDS or text_field not in names or not names <= {text_field, id_field}:
        return None
    text = records.column(text_field).combine_chunks()
    if text.null_count or not pa.types.is_large_string(text.type):
        return None
    raw_ids = records.column(id_field).combine_chunks() if id_field in names else None
    id_type = None if raw_ids is None else raw_ids.type
    if id_type is not None and pa.types.is_integer(id_type):
        raw_ids = raw_ids.cast(pa.string())  # as str(int)
    elif id_type is not None and not (pa.types.is_string(id_type) or pa.types.is_null(id_type)):
        return None
    try:
        text.validate(full=True)  # the JSON reader leaves invalid UTF-8 in place
        if raw_ids is not None:
            raw_ids.validate(full=True)
    except pa.ArrowInvalid:
        return None
    n = len(text)
    lines = pa.array(np.arange(first_line, first_line + n, dtype=np.int64)).cast(pa.string())
    sources = pc.binary_join_element_wise(f"{path}:", lines, "")
    if raw_ids is None or pa.types.is_null(raw_ids.type):
        ids = pa.array([stable_id(s) for s in sources.to_pylist()], pa.string())
    else:
        missing = pc.fill_null(pc.equal(raw_ids, ""), True)
        ids = raw_ids
        if pc.any(missing).as_py():
            rows = np.flatnonzero(missing.to_numpy(zero_copy_only=False))
            derived = [stable_id(s) for s in sources.take(pa.array(rows)).to_pylist()]
            ids = pc.replace_with_mask(raw_ids, missing, pa.array(derived, pa.string()))
    meta = pa.repeat(pa.scalar("{}", pa.string()), n)
    columns = [ids, text, sources, meta, pa.nulls(n, pa.large_string()), pa.nulls(n, pa.string())]
    return pa.record_batch(columns, schema=DOC_SCHEMA)


@dataclass
class DocumentBuilder:
    """Turns parsed records into Arrow batches of documents, one column list at a time.

    A chat or agent record (``winnow.chat.formats``) keeps its turns in ``messages`` and its
    format in ``chat_format``; its ``text`` is the view rendered from the turns (a ``text``
    field the record also carries is neither used nor kept: the turns win)."""

    text_field: str = "text"
    id_field: str = "id"
    ids: list[str] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    metas: list[str] = field(default_factory=list)
    messages: list[str | None] = field(default_factory=list)
    formats: list[str | None] = field(default_factory=list)
    text_bytes: int = 0
    _pieces: list[pa.RecordBatch] = field(default_factory=list)
    _piece_rows: int = 0

    def add(self, record: Any, source: str) -> None:
        """Add one record; raises InvalidRecord when it cannot be a document."""
        if not isinstance(record, dict):
            raise InvalidRecord("not_an_object", "record is not a JSON object")
        if len(record) <= 2 and self._plain(record, source):
            return
        chat = read_chat(record, self.text_field)
        if chat is not None:
            fmt, turns, used = chat
            text, messages = render(turns), dumps(turns)
            skip = {self.id_field, self.text_field, "chat_format", *used}
        else:
            if self.text_field not in record or record[self.text_field] is None:
                raise InvalidRecord("missing_text", f"no '{self.text_field}' field")
            text, fmt, messages = record[self.text_field], None, None
            if not isinstance(text, str):
                raise InvalidRecord("text_not_string", f"'{self.text_field}' is not a string")
            skip = {self.id_field, self.text_field, "messages", "chat_format"}
        doc_id = document_id(record.get(self.id_field), source)
        meta = _nested_meta(record.get("meta"))
        meta.update((k, v) for k, v in record.items() if k not in skip and k != "meta")
        self.ids.append(doc_id)
        self.texts.append(text)
        self.sources.append(source)
        self.metas.append(orjson.dumps(meta, default=str).decode())
        self.messages.append(messages)
        self.formats.append(fmt)
        self.text_bytes += len(text)

    def _plain(self, record: dict, source: str) -> bool:
        """Add a record of only a text string and perhaps an id (the common case), as the
        general path would, without its chat and meta work; False for any other record."""
        if not is_plain_record(record, self.text_field, self.id_field):
            return False
        text = record[self.text_field]
        self.ids.append(document_id(record.get(self.id_field), source))
        self.texts.append(text)
        self.sources.append(source)
        self.metas.append("{}")
        self.messages.append(None)
        self.formats.append(None)
        self.text_bytes += len(text)
        return True

    def add_documents(
        self, batch: pa.RecordBatch, batch_docs: int, batch_bytes: int
    ) -> Iterator[pa.RecordBatch]:
        """Add documents already built (``plain_documents``) and yield each batch that fills
        on the way, cut exactly where adding them one by one would cut: at ``batch_docs``
        documents, or at the first document that brings ``text_bytes`` to ``batch_bytes``."""
        chars = np.cumsum(pc.utf8_length(batch.column("text")).to_numpy(zero_copy_only=False))
        at = 0
        while at < batch.num_rows:
            room = batch_docs - len(self)
            before = chars[at - 1] if at else 0
            over = np.searchsorted(chars, before + batch_bytes - self.text_bytes, side="left")
            take = int(min(room, over - at + 1, batch.num_rows - at))
            self._flush_lists()
            self._pieces.append(batch.slice(at, take))
            self._piece_rows += take
            self.text_bytes += int(chars[at + take - 1] - before)
            at += take
            if len(self) >= batch_docs or self.text_bytes >= batch_bytes:
                yield self.flush()

    def __len__(self) -> int:
        return len(self.ids) + self._piece_rows

    def _flush_lists(self) -> None:
        """The documents added one by one so far, as a piece of the next batch."""
        if not self.ids:
            return
        columns = (self.ids, self.texts, self.sources, self.metas, self.messages, self.formats)
        self._pieces.append(
            pa.record_batch(
                [pa.array(values, f.type) for values, f in zip(columns, DOC_SCHEMA)],
                schema=DOC_SCHEMA,
            )
        )
        self._piece_rows += len(self.ids)
        self.ids, self.texts, self.sources, self.metas = [], [], [], []
        self.messages, self.formats = [], []

    def flush(self) -> pa.RecordBatch:
        """Return the accumulated documents as a batch and start a new one."""
        self._flush_lists()
        pieces, self._pieces, self._piece_rows = self._pieces, [], 0
        self.text_bytes = 0
        if len(pieces) == 1:
            return pieces[0]
        return pa.Table.from_batches(pieces, DOC_SCHEMA).combine_chunks().to_batches()[0]
