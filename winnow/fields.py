"""Field paths: how a recipe names a value of a document (``field_filter``, ``url_filter``,
``key_dedup``, ``mix by:``). ``meta.a.b`` is a dotted path into the record's metadata; a bare
name is a column (``lang``, ``source``), or, when no column has that name, a key of ``meta``
(so recipes written before field paths keep working). A JSON null counts as absent."""

from __future__ import annotations

import orjson
import pyarrow as pa

MISSING = object()
"""The value of a field a document does not have."""


class FieldReader:
    """Values of field paths over one batch; ``meta`` is parsed once, for all paths."""

    def __init__(self, batch: pa.RecordBatch) -> None:
        self.batch = batch
        self._metas: list | None = None

    def _meta(self) -> list:
        if self._metas is None:
            raw = (
                self.batch.column("meta").to_pylist()
                if "meta" in self.batch.schema.names
                else [None] * self.batch.num_rows
            )
            self._metas = [_parse(m) for m in raw]
        return self._metas

    def values(self, path: str) -> list:
        """The value at ``path`` of every row (``MISSING`` where the row has none)."""
        names = self.batch.schema.names
        if not path.startswith("meta.") and path in names:
            return [MISSING if v is None else v for v in self.batch.column(path).to_pylist()]
        keys = path[len("meta.") :].split(".") if path.startswith("meta.") else [path]
        out = []
        for value in self._meta():
            for key in keys:
                value = value.get(key, MISSING) if isinstance(value, dict) else MISSING
                if value is MISSING or value is None:
                    value = MISSING
                    break
            out.append(value)
        return out


def field_values(batch: pa.RecordBatch, path: str) -> list:
    """The value at ``path`` of every row of ``batch`` (``MISSING`` where absent)."""
    return FieldReader(batch).values(path)


def _parse(meta: str | None) -> dict:
    if not meta:
        return {}
    try:
        value = orjson.loads(meta)
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}
