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
    words = pc.split_pattern_regex(pc.utf8_lower(pc.fill_null(text, "")), r"\W+")
    offsets = words.offsets.to_numpy().astype(np.int64)
    flat = pc.dictionary_encode(words.values)
    vocabulary = flat.dictionary.to_pylist()
    table = np.fromiter(
        (xxhash.xxh3_64_intdigest(w.encode("utf-8")) for w in vocabulary),
        dtype=np.uint64,
        count=len(vocabulary),
    )
    codes = flat.indices.to_numpy(zero_copy_only=False)
    real = np.array([len(w) > 0 for w in vocabulary], dtype=bool)[codes]  # "" at the edges
    kept_before = np.concatenate([[0], np.cumsum(real)])
    return table[codes[real]], kept_before[offsets]


def shingle_hashes(text: pa.Array, n: int) -> Shingles:
    """Word ``n``-gram shingles of each document of ``text``."""
    return shingles_of_words(*word_hashes(text), n)


def shingles_of_words(hashes: np.ndarray, offsets: np.ndarray, n: int) -> Shingles:
    """Word ``n``-gram shingles from ``word_hashes``' output."""
    counts = np.diff(offsets)
    starts = offsets[:-1]
    m = len(hashes)
    # an n-gram starts at each position with n words left in its document
    position = np.arange(m, dtype=np.int64)
    doc = np.repeat(np.arange(len(counts)), counts)
    full = position + n <= offsets[1:][doc] if m else np.zeros(0, bool)
    short = (counts > 0) & (counts < n)  # one shingle of all the words
    keys = np.zeros(m, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for k in range(n):
            shifted = np.zeros(m, dtype=np.uint64)
            shifted[: m - k] = hashes[k:]
            inside = position + k < offsets[1:][doc] if m else full
            keys = np.where(inside, keys * NGRAM_PRIME + shifted, keys)
    take = full | (short[doc] & (position == starts[doc])) if m else full
    per_doc = np.bincount(doc[take], minlength=len(counts)) if m else np.zeros(len(counts), int)
    out_offsets = np.concatenate([[0], np.cumsum(per_doc)]).astype(np.int64)
    return Shingles(mix64(keys[take]), out_offsets)


def ngram_keys(hashes: np.ndarray, n: int) -> np.ndarray:
    """The shingle hash of every run of ``n`` consecutive word hashes of one document (the
    same values ``shingle_hashes`` gives its full n-grams)."""
    m = len(hashes) - n + 1
    keys = np.zeros(max(m, 0), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for k in range(n):
            keys = keys * NGRAM_PRIME + hashes[k : k + m]
    return mix64(keys)
