"""The document schema every reader produces and every stage sees.

Columns: ``id``, ``text``, ``source`` (``file:record`` where the record is a 1-based line
number or a 0-based row index), ``meta`` (the record's other fields as a JSON object string, so
heterogeneous inputs share one schema) and ``messages`` (chat turns, null for plain documents).
Chat and instruction records are normalised into ``messages`` plus a plain-text view in ``text``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson
import pyarrow as pa
import xxhash

MESSAGE_TYPE = pa.struct([("role", pa.string()), ("content", pa.string())])

DOC_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("text", pa.large_string()),
        ("source", pa.string()),
        ("meta", pa.string()),
        ("messages", pa.list_(MESSAGE_TYPE)),
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
    ]
)

INVALID = "invalid_input"


def stable_id(source: str) -> str:
    """An id for a record that has none, derived from its file and record offset."""
    return "h" + xxhash.xxh3_64_hexdigest(source.encode("utf-8", "surrogatepass"))


def chat_text(messages: list[dict[str, str]]) -> str:
    """The plain-text view of a conversation that text stages operate on."""
    return "\n\n".join(f"{m['role']}: {m['content']}" for m in messages)


class InvalidRecord(Exception):
    """A record that cannot become a document; ``reason`` is the ledger suffix."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(detail or reason)
        self.reason = reason


def _messages_from(record: dict[str, Any]) -> list[dict[str, str]] | None:
    """Chat/instruction fields → a list of ``{role, content}``; None for plain documents."""
    if record.get("messages") is not None:
        raw = record["messages"]
        if not isinstance(raw, list) or not raw:
            raise InvalidRecord("bad_messages", "messages must be a non-empty list")
        out = []
        for turn in raw:
            if not isinstance(turn, dict):
                raise InvalidRecord("bad_messages", "each message must be an object")
            role, content = turn.get("role"), turn.get("content")
            if not isinstance(role, str) or not isinstance(content, str):
                raise InvalidRecord("bad_messages", "each message needs string role and content")
            out.append({"role": role, "content": content})
        return out
    for prompt_key, response_key in (("prompt", "response"), ("instruction", "output")):
        if prompt_key in record and response_key in record:
            prompt, response = record[prompt_key], record[response_key]
            extra = record.get("input") if prompt_key == "instruction" else None
            if not isinstance(prompt, str) or not isinstance(response, str):
                raise InvalidRecord("text_not_string", f"{prompt_key}/{response_key} not strings")
            if isinstance(extra, str) and extra:
                prompt = f"{prompt}\n\n{extra}"
            turns = []
            if isinstance(record.get("system"), str) and record["system"]:
                turns.append({"role": "system", "content": record["system"]})
            turns += [
                {"role": "user", "content": prompt},
                {"role": "assistant", "content": response},
            ]
            return turns
    return None


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


_CHAT_KEYS = ("messages", "prompt", "response", "instruction", "input", "output", "system")


@dataclass
class DocumentBuilder:
    """Turns parsed records into Arrow batches of documents, one column list at a time."""

    text_field: str = "text"
    id_field: str = "id"
    ids: list[str] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    metas: list[str] = field(default_factory=list)
    messages: list[list[dict[str, str]] | None] = field(default_factory=list)
    text_bytes: int = 0

    def add(self, record: Any, source: str) -> None:
        """Add one record; raises InvalidRecord when it cannot be a document."""
        if not isinstance(record, dict):
            raise InvalidRecord("not_an_object", "record is not a JSON object")
        has_text = record.get(self.text_field) is not None
        plain = has_text and record.get("messages") is None
        messages = None if plain else _messages_from(record)
        if messages is not None:
            text = record[self.text_field] if has_text else chat_text(messages)
            if not isinstance(text, str):
                raise InvalidRecord("text_not_string", f"'{self.text_field}' is not a string")
            skip = {self.id_field, self.text_field, *_CHAT_KEYS}
        else:
            if self.text_field not in record or record[self.text_field] is None:
                raise InvalidRecord("missing_text", f"no '{self.text_field}' field")
            text = record[self.text_field]
            if not isinstance(text, str):
                raise InvalidRecord("text_not_string", f"'{self.text_field}' is not a string")
            skip = {self.id_field, self.text_field, "messages"}
        raw_id = record.get(self.id_field)
        doc_id = (
            str(raw_id) if isinstance(raw_id, (str, int)) and raw_id != "" else stable_id(source)
        )
        meta = _nested_meta(record.get("meta"))
        meta.update((k, v) for k, v in record.items() if k not in skip and k != "meta")
        self.ids.append(doc_id)
        self.texts.append(text)
        self.sources.append(source)
        self.metas.append(orjson.dumps(meta, default=str).decode())
        self.messages.append(messages)
        self.text_bytes += len(text)

    def __len__(self) -> int:
        return len(self.ids)

    def flush(self) -> pa.RecordBatch:
        """Return the accumulated documents as a batch and start a new one."""
        batch = pa.record_batch(
            [
                pa.array(self.ids, pa.string()),
                pa.array(self.texts, pa.large_string()),
                pa.array(self.sources, pa.string()),
                pa.array(self.metas, pa.string()),
                pa.array(self.messages, pa.list_(MESSAGE_TYPE))
                if any(m is not None for m in self.messages)
                else pa.nulls(len(self.messages), pa.list_(MESSAGE_TYPE)),
            ],
            schema=DOC_SCHEMA,
        )
        self.ids, self.texts, self.sources, self.metas, self.messages = [], [], [], [], []
        self.text_bytes = 0
        return batch


VIEWS = ("text", "prompt", "response")
PROMPT_ROLES = frozenset({"system", "user", "human", "instruction"})


def text_view(batch: pa.RecordBatch, view: str) -> list[str]:
    """The text a stage should read: ``text``, or for chat records only the prompt side
    (system and user turns) or the response side (every other role); plain documents
    (no ``messages``) give their ``text`` in every view."""
    texts = [t or "" for t in batch.column("text").to_pylist()]
    if view == "text" or "messages" not in batch.schema.names:
        return texts
    want_prompt = view == "prompt"
    out = []
    for text, turns in zip(texts, batch.column("messages").to_pylist()):
        if not turns:
            out.append(text)
            continue
        chosen = [t["content"] for t in turns if (t["role"] in PROMPT_ROLES) == want_prompt]
        out.append("\n\n".join(chosen))
    return out
