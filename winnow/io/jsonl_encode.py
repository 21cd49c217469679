"""A record batch as JSON Lines, encoded column by column in compiled kernels: byte for byte
what orjson writes for the batch's rows as dicts (keys in column order, null fields left out,
``meta`` last and embedded as it is), without a Python string or dict per row.

String columns are escaped from their Arrow buffers as orjson escapes them: ``"`` and ``\\``,
``\\b \\t \\n \\f \\r``, the other bytes below 0x20 as ``\\u00XX`` (lower-case hex), every
other byte (UTF-8 included) as it is. A column of any other type is encoded by orjson one
value at a time, and the lines are assembled from the pieces.
"""

from __future__ import annotations

import numpy as np
import orjson
import pyarrow as pa
from numba import njit

from winnow.text.utf8 import string_buffers

_HEX = b"0123456789abcdef"
_SHORT = {8: b"\\b", 9: b"\\t", 10: b"\\n", 12: b"\\f", 13: b"\\r", 34: b'\\"', 92: b"\\\\"}
_ESCAPES = [_SHORT.get(b, b"\\u00" + bytes([_HEX[b >> 4], _HEX[b & 15]])) for b in range(32)]
_ESCAPES += [_SHORT.get(b, b"") for b in range(32, 256)]
ESCAPE_BYTES = np.frombuffer(b"".join(_ESCAPES), dtype=np.uint8).copy()
"""Every byte's escape, end to end (empty for a byte written as it is)."""
ESCAPE_OFFSETS = np.concatenate([[0], np.cumsum([len(e) for e in _ESCAPES])]).astype(np.int64)


def encode_lines(batch: pa.RecordBatch) -> np.ndarray | None:
    """The batch's rows as JSON Lines (bytes, as a uint8 array), as ``orjson.dumps(row,
    option=OPT_APPEND_NEWLINE)`` writes each; None when a ``meta`` value is null (its caller
    writes such a batch row by row)."""
    names = [n for n in batch.schema.names if n != "meta"]
    if "meta" in batch.schema.names:
        if batch.column("meta").null_count:
            return None
        names.append("meta")
    rows = batch.num_rows
    values, offsets, valid, escaped = [], [], [], []
    start = 0
    for name in names:
        column = batch.column(name)
        is_text = pa.types.is_string(column.type) or pa.types.is_large_string(column.type)
        if is_text:  # meta is embedded as it is: it already holds JSON
            value_offsets, data = string_buffers(column)
        else:
            encoded = [orjson.dumps(v) if v is not None else b"" for v in column.to_pylist()]
            data = np.frombuffer(b"".join(encoded), dtype=np.uint8)
            value_offsets = np.zeros(rows + 1, dtype=np.int64)
            np.cumsum(np.fromiter(map(len, encoded), np.int64, rows), out=value_offsets[1:])
        values.append(data)
        offsets.append(value_offsets + start)
        start += len(data)
        valid.append(column.is_valid().to_numpy(zero_copy_only=False))
        escaped.append(is_text and name != "meta")
    keys = [orjson.dumps(n) + b":" for n in names]
    return _lines(
        np.frombuffer(b"".join(keys), dtype=np.uint8),
        np.concatenate([[0], np.cumsum([len(k) for k in keys])]).astype(np.int64),
        np.concatenate(values) if values else np.zeros(0, np.uint8),
        np.stack(offsets) if offsets else np.zeros((0, rows + 1), np.int64),
        np.array(escaped, dtype=np.bool_),
        np.stack(valid) if valid else np.zeros((0, rows), np.bool_),
        ESCAPE_BYTES,
        ESCAPE_OFFSETS,
    )


@njit(cache=True)
def _lines(keys, key_offsets, data, offsets, escaped, valid, escape_bytes, escape_offsets):
    """``{key:value,...}\\n`` per row from each column's values (``offsets``: columns x
    rows + 1, into ``data``), the invalid ones left out; an ``escaped`` column's values are
    written as JSON strings."""
    columns, rows = valid.shape
    escape_extra = np.zeros(256, dtype=np.int64)  # bytes an escape adds
    for b in range(256):
        width = escape_offsets[b + 1] - escape_offsets[b]
        escape_extra[b] = width - 1 if width else 0
    plain = np.zeros((columns, rows), dtype=np.bool_)  # a string with nothing to escape
    total = 0
    for r in range(rows):
        total += 3  # { } and the newline
        fields = 0
        for c in range(columns):
            if valid[c, r]:
                total += key_offsets[c + 1] - key_offsets[c] + offsets[c, r + 1] - offsets[c, r]
                if escaped[c]:
                    extra = 0
                    for i in range(offsets[c, r], offsets[c, r + 1]):
                        extra += escape_extra[data[i]]
                    total += 2 + extra
                    plain[c, r] = extra == 0
                fields += 1
        total += max(fields - 1, 0)  # commas
    out = np.empty(total, dtype=np.uint8)
    p = 0
    for r in range(rows):
        out[p] = 123
        p += 1
        first = True
        for c in range(columns):
            if not valid[c, r]:
                continue
            if not first:
                out[p] = 44
                p += 1
            first = False
            for k in range(key_offsets[c], key_offsets[c + 1]):
                out[p] = keys[k]
                p += 1
            lo, hi = offsets[c, r], offsets[c, r + 1]
            if not escaped[c]:
                out[p : p + hi - lo] = data[lo:hi]
                p += hi - lo
                continue
            out[p] = 34
            p += 1
            if plain[c, r]:
                out[p : p + hi - lo] = data[lo:hi]
                p += hi - lo + 1
                out[p - 1] = 34
                continue
            for i in range(lo, hi):
                first_byte, end = escape_offsets[data[i]], escape_offsets[data[i] + 1]
                if first_byte == end:
                    out[p] = data[i]
                    p += 1
                else:
                    for k in range(first_byte, end):
                        out[p] = escape_bytes[k]
                        p += 1
            out[p] = 34
            p += 1
        out[p] = 125
        out[p + 1] = 10
        p += 2
    return out
