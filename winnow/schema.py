"""The document schema every reader produces and every stage sees.

Columns: ``id``, ``text``, ``source`` (``file:record`` where the record is a 1-based line
number or a 0-based row index), ``meta`` (the record's other fields as a JSON object string, so
heterogeneous inputs share one schema), ``messages`` (a chat record's turns as OpenAI messages,
JSON; null for plain documents) and ``chat_format`` (the input format of those turns). For a chat
record the turns are the data and ``text`` is their view (``winnow.chat``).
"""

from __future__ import annotations

import pyarrow as pa
import xxhash

DOC_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("text", pa.large_string()),
        ("source", pa.string()),
        ("meta", pa.string()),
        ("messages", pa.large_string()),
        ("chat_format", pa.string()),
    ]
)

LEDGER_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("source", pa.string()),
        ("stage", pa.string()),
        ("reason", pa.string()),
        ("duplicate_of", pa.string()),
        ("cluster_size", pa.int64()),
        ("reference_source", pa.string()),
        ("detail", pa.string()),
    ]
)

INVALID = "invalid_input"


def stable_id(source: str) -> str:
    """An id for a record that has none, derived from its file and record offset."""
    return "h" + xxhash.xxh3_64_hexdigest(source.encode("utf-8", "surrogatepass"))


def document_id(raw_id: object, source: str) -> str:
    """A record's id field as the document id (a string or an integer, not empty), else
    ``stable_id(source)``."""
    if isinstance(raw_id, (str, int)) and raw_id != "":
        return str(raw_id)
    return stable_id(source)


class InvalidRecord(Exception):
    """A record that cannot become a document; ``reason`` is the ledger suffix."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(detail or reason)
        self.reason = reason
        self.detail = detail or None
