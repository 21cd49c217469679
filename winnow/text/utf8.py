"""A string array's UTF-8 buffers as numpy, for kernels that read the bytes themselves, and
hashes of those bytes."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import xxhash

NON_ASCII_SPACES = r"\x{85}\x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}"
"""The characters beyond ASCII that ``str.isspace`` holds true, as the body of an RE2
class."""
OTHER_SPACES = rf"\x1c-\x1f{NON_ASCII_SPACES}"
"""``str.isspace`` beyond ASCII's space and \\t to \\r (what Arrow's ASCII kernels know),
as the body of an RE2 class."""
PY_SPACE = rf"[\t\n\v\f\r {OTHER_SPACES}]"
"""``str.isspace`` as an RE2 class (RE2's own ``\\s`` is ASCII whitespace alone)."""


def string_buffers(strings: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(int64 offsets rebased to 0, uint8 data) of a string or large-string array, without
    copying the text; nulls read as empty strings."""
    if isinstance(strings, pa.ChunkedArray):
        strings = strings.combine_chunks()
    if strings.null_count:
        strings = pc.fill_null(strings, "")
    _, offsets_buf, data_buf = strings.buffers()
    width = np.int64 if pa.types.is_large_string(strings.type) else np.int32
    first, n = strings.offset, len(strings)
    offsets = np.frombuffer(offsets_buf, dtype=width)[first : first + n + 1].astype(np.int64)
    data = np.frombuffer(data_buf, np.uint8) if data_buf is not None else np.zeros(0, np.uint8)
    return offsets - offsets[0], data[offsets[0] : offsets[-1]]


def hash128(strings: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """xxh3-128 of each string's UTF-8 bytes as two uint64 arrays (high, low), read straight
    from the Arrow buffers. Nulls hash like the empty string."""
    offsets, data = string_buffers(strings)
    view = memoryview(data)
    digest = xxhash.xxh3_128_digest
    joined = b"".join(digest(view[offsets[i] : offsets[i + 1]]) for i in range(len(offsets) - 1))
    pairs = np.frombuffer(joined, dtype=">u8").reshape(-1, 2).astype(np.uint64)
    return pairs[:, 0].copy(), pairs[:, 1].copy()
