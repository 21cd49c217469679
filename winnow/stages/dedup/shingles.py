"""Word n-gram shingles of a batch of documents, as 64-bit hashes, computed in Arrow and numpy.

Words are the ``\\w+`` runs of the lower-cased text (text-dedup and datatrove both lower-case
and drop punctuation before shingling). Each distinct word of a batch is hashed once
(xxh3-64 of its UTF-8 bytes, so a word hashes the same in every batch and process); an
n-gram's hash mixes its words' hashes in order. A document with fewer than ``n`` words has
one shingle made of all its words; a document without words has none.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import xxhash
from numba import njit

from winnow.text.utf8 import string_buffers
from winnow.text.xxh3 import SHORT_MAX, xxh3_64

NGRAM_PRIME = np.uint64(0x100000001B3)


@dataclass
class Shingles:
    """Shingle hashes of document ``d``: ``hashes[offsets[d]:offsets[d + 1]]``."""

    hashes: np.ndarray
    offsets: np.ndarray

    def of(self, d: int) -> np.ndarray:
        return self.hashes[self.offsets[d] : self.offsets[d + 1]]


def mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: spreads structured 64-bit keys over all bits."""
    with np.errstate(over="ignore"):
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def word_hashes(text: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(hash of every word, word offsets per document)."""
    offsets, data = string_buffers(text)
    hashes, word_offsets, long_words = _hash_words(data, offsets, SHORT_MAX)
    for i, start, end in long_words.tolist():  # over 240 bytes: rare
        word = pc.utf8_lower(pa.array([bytes(data[start:end]).decode("utf-8")]))[0]
        hashes[i] = xxhash.xxh3_64_intdigest(word.as_py().encode("utf-8"))
    return hashes, word_offsets


# Words are the runs of RE2's ``\w`` (ASCII [0-9A-Za-z_]) in the text as Arrow's utf8_lower
# makes it: ASCII letters lower-cased, and the two characters whose lower case is ASCII,
# U+0130 (C4 B0, "i") and U+212A (E2 84 AA, "k"), read as the letter they become.
_WORD_BYTE = np.zeros(256, dtype=np.uint8)
for _c in b"0123456789_abcdefghijklmnopqrstuvwxyz":
    _WORD_BYTE[_c] = _c
for _c in b"ABCDEFGHIJKLMNOPQRSTUVWXYZ":
    _WORD_BYTE[_c] = _c + 32


@njit(cache=True, inline="always")
def _word_byte(data, i, start, end):
    """The lower-cased ASCII byte the text at ``i`` adds to a word; 0 for the later bytes of
    U+0130 and U+212A (still inside the word); -1 outside words."""
    c = data[i]
    if c < 128:
        return _WORD_BYTE[c] if _WORD_BYTE[c] else -1
    if c == 0xC4:
        return 105 if i + 1 < end and data[i + 1] == 0xB0 else -1
    if c == 0xE2:
        return 107 if i + 2 < end and data[i + 1] == 0x84 and data[i + 2] == 0xAA else -1
    if c == 0xB0:
        return 0 if i > start and data[i - 1] == 0xC4 else -1
    if c == 0x84:
        inside = i > start and data[i - 1] == 0xE2 and i + 1 < end and data[i + 1] == 0xAA
        return 0 if inside else -1
    if c == 0xAA:
        return 0 if i > start + 1 and data[i - 1] == 0x84 and data[i - 2] == 0xE2 else -1
    return -1


@njit(cache=True)
def _hash_words(data, offsets, short_max):
    """Every word's hash, where each document's words start, and the words longer than
    ``short_max`` bytes (index, start, end), for the caller to hash. The hashes' room is
    the most words the bytes can hold (half of them, rounded up): memory the kernel does not
    write is never used, and the hashes are returned as a view (no copy of a batch)."""
    hashes = np.empty(len(data) // 2 + 1, dtype=np.uint64)
    word_offsets = np.zeros(len(offsets), dtype=np.int64)
    long_words = np.empty((len(data) // (short_max + 1) + 1, 3), dtype=np.int64)
    word = np.empty(short_max, dtype=np.uint8)
    w, n_long = 0, 0
    for d in range(len(offsets) - 1):
        start, end = offsets[d], offsets[d + 1]
        i = start
        while i < end:
            c = data[i]
            if c < 128:
                if _WORD_BYTE[c] == 0:  # between words
                    i += 1
                    continue
            elif _word_byte(data, i, start, end) < 0:
                i += 1
                continue
            length, first = 0, i
            while i < end:  # the word's bytes, lower-cased into ``word``
                c = data[i]
                if c < 128:  # the common case, inline
                    v = _WORD_BYTE[c]
                    if v == 0:
                        break
                else:
                    v = _word_byte(data, i, start, end)
                    if v < 0:
                        break
                    if v == 0:  # the later bytes of U+0130 and U+212A
                        i += 1
                        continue
                if length < short_max:
                    word[length] = v
                length += 1
                i += 1
            if length <= short_max:
                hashes[w] = xxh3_64(word, 0, length)
            else:
                long_words[n_long, 0] = w
                long_words[n_long, 1] = first
                long_words[n_long, 2] = i
                n_long += 1
            w += 1
        word_offsets[d + 1] = w
    return hashes[:w], word_offsets, long_words[:n_long]


def shingle_hashes(text: pa.Array, n: int) -> Shingles:
    """Word ``n``-gram shingles of each document of ``text``."""
    return shingles_of_words(*word_hashes(text), n)


def shingles_of_words(hashes: np.ndarray, offsets: np.ndarray, n: int) -> Shingles:
    """Word ``n``-gram shingles from ``word_hashes``' output."""
    out_offsets = shingle_offsets_of(offsets, n)
    return Shingles(_shingles(hashes, offsets, out_offsets, n), out_offsets)


def shingle_offsets_of(word_offsets: np.ndarray, n: int) -> np.ndarray:
    """Where each document's ``n``-gram shingles start (and the total at the end), from its
    words: ``words - n + 1``, or one shingle of all its words when it has fewer."""
    counts = np.diff(word_offsets)
    per_doc = np.where(counts >= n, counts - n + 1, np.minimum(counts, 1))
    out_offsets = np.zeros(len(word_offsets), dtype=np.int64)
    np.cumsum(per_doc, out=out_offsets[1:])
    return out_offsets


@njit(cache=True, inline="always")
def shingle_at(hashes, i, length):
    """The shingle hash of the ``length`` words from ``hashes[i]``."""
    key = np.uint64(0)
    for k in range(length):
        key = key * NGRAM_PRIME + hashes[i + k]
    return mix64_one(key)


@njit(cache=True, inline="always")
def mix64_one(x):
    """``mix64`` of one value, for kernels."""
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


@njit(cache=True)
def _shingles(hashes, offsets, out_offsets, n):
    out = np.empty(out_offsets[-1], dtype=np.uint64)
    for d in range(len(offsets) - 1):
        start, words = offsets[d], offsets[d + 1] - offsets[d]
        length = min(n, words)
        for j in range(out_offsets[d + 1] - out_offsets[d]):
            out[out_offsets[d] + j] = shingle_at(hashes, start + j, length)
    return out


def ngram_keys(hashes: np.ndarray, n: int) -> np.ndarray:
    """The shingle hash of every run of ``n`` consecutive word hashes of one document (the
    same values ``shingle_hashes`` gives its full n-grams)."""
    m = len(hashes) - n + 1
    keys = np.zeros(max(m, 0), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for k in range(n):
            keys = keys * NGRAM_PRIME + hashes[k : k + m]
    return mix64(keys)


INSERTION_SORT_MAX = 96
"""Lists up to this long are sorted by insertion (``distinct_sorted``)."""


@njit(cache=True)
def distinct_sorted(
    values: np.ndarray, offsets: np.ndarray, rows: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The distinct values of lists ``rows`` (list ``r``: ``values[offsets[r]:offsets[r + 1]]``),
    each ascending, end to end, and where each starts (and the total at the end)."""
    total = 0
    for r in rows:
        total += offsets[r + 1] - offsets[r]
    out = np.empty(total, dtype=values.dtype)
    out_offsets = np.zeros(len(rows) + 1, dtype=np.int64)
    n = 0
    for d in range(len(rows)):
        start, end = offsets[rows[d]], offsets[rows[d] + 1]
        kept_values = out[n : n + end - start]  # sorted in place, then its repeats left out
        kept_values[:] = values[start:end]
        if end - start > INSERTION_SORT_MAX:
            kept_values.sort()
        else:  # twice as fast as the general sort on a paragraph's 40-odd shingles
            for i in range(1, end - start):
                x, j = kept_values[i], i
                while j > 0 and kept_values[j - 1] > x:
                    kept_values[j] = kept_values[j - 1]
                    j -= 1
                kept_values[j] = x
        kept = 0
        for k in range(len(kept_values)):
            if k == 0 or kept_values[k] != kept_values[kept - 1]:
                kept_values[kept] = kept_values[k]
                kept += 1
        n += kept
        out_offsets[d + 1] = n
    return out[:n], out_offsets  # a view: the room left over is freed with it
