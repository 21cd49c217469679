"""Vectorised text helpers shared by stages: regexes, hashing of string arrays."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import xxhash
from ftfy.badness import BADNESS_RE


def verbose_to_re2(pattern: str) -> str:
    """Drop the insignificant whitespace of a Python ``re.VERBOSE`` pattern (RE2 lacks ``(?x)``)."""
    out, in_class, escaped = [], False, False
    for ch in pattern:
        if escaped:
            out.append(ch)
            escaped = False
        elif ch == "\\":
            out.append(ch)
            escaped = True
        elif ch == "[":
            in_class = True
            out.append(ch)
        elif ch == "]" and in_class:
            in_class = False
            out.append(ch)
        elif ch.isspace() and not in_class:
            continue
        else:
            out.append(ch)
    return "".join(out)


MOJIBAKE_RE2 = verbose_to_re2(BADNESS_RE.pattern)
"""ftfy's own "looks like mojibake" test, compiled for Arrow so only suspect rows reach ftfy."""


def hash128(strings: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """xxh3-128 of each string's UTF-8 bytes as two uint64 arrays (high, low), read straight
    from the Arrow buffers. Nulls hash like the empty string."""
    strings = strings.cast(pa.large_string())
    if strings.offset or strings.null_count:
        strings = pc.fill_null(strings, "")
        strings = pa.concat_arrays([strings])
    _, offsets_buf, data_buf = strings.buffers()
    offsets = np.frombuffer(offsets_buf, dtype=np.int64, count=len(strings) + 1)
    data = memoryview(data_buf) if data_buf is not None else memoryview(b"")
    digest = xxhash.xxh3_128_digest
    joined = b"".join(digest(data[offsets[i] : offsets[i + 1]]) for i in range(len(strings)))
    pairs = np.frombuffer(joined, dtype=">u8").reshape(-1, 2).astype(np.uint64)
    return pairs[:, 0].copy(), pairs[:, 1].copy()
