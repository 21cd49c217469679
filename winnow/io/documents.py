"""Parsed records → Arrow batches of documents (``winnow.schema.DOC_SCHEMA``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson
import pyarrow as pa

from winnow.chat.edits import dumps
from winnow.chat.formats import read_chat
from winnow.chat.view import render
from winnow.schema import DOC_SCHEMA, InvalidRecord, document_id


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


_CHAT_FIELDS = frozenset({"messages", "conversations", "steps"})
"""Fields ``read_chat`` reads a conversation from: a record's text there is no plain text."""


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
        text = record.get(self.text_field)
        if not isinstance(text, str) or self.text_field in _CHAT_FIELDS:
            return False
        if len(record) == 2 and self.id_field not in record:
            return False
        self.ids.append(document_id(record.get(self.id_field), source))
        self.texts.append(text)
        self.sources.append(source)
        self.metas.append("{}")
        self.messages.append(None)
        self.formats.append(None)
        self.text_bytes += len(text)
        return True

    def __len__(self) -> int:
        return len(self.ids)

    def flush(self) -> pa.RecordBatch:
        """Return the accumulated documents as a batch and start a new one."""
        columns = (self.ids, self.texts, self.sources, self.metas, self.messages, self.formats)
        batch = pa.record_batch(
            [pa.array(values, f.type) for values, f in zip(columns, DOC_SCHEMA)],
            schema=DOC_SCHEMA,
        )
        self.ids, self.texts, self.sources, self.metas = [], [], [], []
        self.messages, self.formats = [], []
        self.text_bytes = 0
        return batch
