"""Chat records as they are written: their turns, not their text view."""

from __future__ import annotations

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from winnow.chat.formats import to_openai, write_chat

CHAT_COLUMNS = ("text", "messages", "chat_format")
"""A chat row's internal columns, replaced by its format's fields in JSON Lines output."""


def chat_fields(messages: list, formats: list, chat_format: str) -> list[dict | None]:
    """Each row's record fields (None for plain documents): ``chat_format: same`` writes a
    row in its input format, ``openai`` as OpenAI ``messages``."""
    return [
        None if m is None else write_chat(orjson.loads(m), f, chat_format)
        for m, f in zip(messages, formats)
    ]


def openai_messages(batch: pa.RecordBatch | pa.Table) -> pa.RecordBatch | pa.Table:
    """For Parquet (output parts, the mix stream): ``messages`` as OpenAI JSON (winnow's
    private keys dropped) and no ``text`` view on chat rows."""
    if "messages" not in batch.schema.names:
        return batch
    messages = batch.column("messages")
    if messages.null_count == len(messages):
        return batch
    public = [
        None if m is None else orjson.dumps(to_openai(orjson.loads(m))).decode()
        for m in messages.to_pylist()
    ]
    i = batch.schema.get_field_index("messages")
    batch = batch.set_column(i, "messages", pa.array(public, messages.type))
    t = batch.schema.get_field_index("text")
    text = pc.if_else(
        messages.is_valid(), pa.scalar(None, batch.schema.field(t).type), batch.column(t)
    )
    return batch.set_column(t, "text", text)
