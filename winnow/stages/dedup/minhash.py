"""Near-duplicate removal with MinHash-LSH (Broder 1997; FineWeb's settings: word 5-gram
shingles, 14 bands of 8 rows), verified by true Jaccard similarity.

map: each document's MinHash signature (``bands * rows`` hash functions ``a * x + b`` over
64-bit shingle hashes, one compiled pass per batch: words, shingles, signature) folded into
one key per band, and the top 32 bits of the shingle hashes (``_mh_set``), which
verification compares instead of reading the text.
reduce: documents sharing a band key are candidates; candidate groups are the connected
components of those collisions (``components.py``). Within a group, documents are taken in
keep order (first in input order, or highest ``keep_highest`` score) and each is compared by
true Jaccard similarity of its shingle sets with the documents kept so far that share a band
with it: at or above ``threshold`` it is removed as a duplicate of the first such document,
otherwise it is kept.
So a chain of merges (A~B, B~C) never removes C for A unless C is itself like A.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
from numba import njit
from pydantic import Field, model_validator

from winnow.chat.view import View, view_array
from winnow.stages.base import CorpusStage, RunContext, ShardColumns, register
from winnow.stages.dedup.components import Candidates, near_duplicate_drops
from winnow.stages.dedup.reference import ReferenceParams, with_reference
from winnow.stages.dedup.shingles import (
    NGRAM_PRIME,
    distinct_sorted,
    mix64_one,
    shingle_at,
    shingle_hashes,
    shingle_offsets_of,
    word_hashes,
)

SHINGLE_SET = "_mh_set"
"""The map's column of each document's set members (``set_members``), which verification
compares (so it reads neither the text nor hashes its words again)."""


def set_members(shingles: np.ndarray) -> np.ndarray:
    """What verification compares of each 64-bit shingle hash: its top 32 bits (half the
    scratch and memory; two of a pair's 40-odd shingles agree by chance about once in ten
    million pairs, where each such agreement adds one to the shared count)."""
    return (shingles >> np.uint64(32)).astype(np.uint32)


class MinHashParams(ReferenceParams):
    ngram: int = Field(5, ge=1)
    """Words per shingle (FineWeb, Gopher: 5)."""
    bands: int = Field(14, ge=1)
    rows: int = Field(8, ge=1)
    """14 x 8 = 112 hash functions, FineWeb's setting: a pair with Jaccard 0.85 becomes a
    candidate with probability 0.99, one with 0.5 with probability 0.05."""
    seed: int = 0
    verify: bool = True
    """Confirm each removal by the true Jaccard similarity of the shingle sets."""
    threshold: float = Field(0.7, gt=0, le=1)
    """Jaccard similarity at which a verified candidate is a duplicate."""
    view: View = "text"
    """What to compare: ``text``, or a view of chat records (``prompt``, ``response``, ...)."""
    keep_highest: str | None = None
    """Keep the document with the highest value of this column in each cluster (ties and
    missing values: first in input order); by default the first in input order."""

    @model_validator(mode="after")
    def _enough_hashes(self) -> MinHashParams:
        if self.bands * self.rows > 1024:
            raise ValueError("bands * rows must be at most 1024")
        return self


def permutations(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``count`` hash functions ``x -> a * x + b`` (mod 2**64, a odd: each a permutation)."""
    rng = np.random.Generator(np.random.PCG64(seed))
    a = rng.integers(0, 2**63, size=count, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
    b = rng.integers(0, 2**63, size=count, dtype=np.uint64)
    return a, b


def halves(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The low and high 32 bits of 64-bit ``values``."""
    low = (values & np.uint64(0xFFFFFFFF)).astype(np.uint32)
    return low, (values >> np.uint64(32)).astype(np.uint32)


@njit(cache=True)
def band_keys(words, offsets, n, a_low, a_high, b_low, b_high, bands, rows, shingle_offsets):
    """One 64-bit key per band (documents x bands) and every document's set members
    (``set_members`` of its shingle hashes: word ``n``-grams, at ``shingle_offsets``), from
    ``word_hashes``' output. A document's MinHash signature has one 32-bit value per hash
    function ``x -> a * x + b`` (mod 2**64): the smallest top half (multiply-shift hashing)
    over its shingles, the maximum value without shingles; a band's key mixes its ``rows``
    values in order.

    ``a`` and ``b`` come as 32-bit halves (``halves``): the top half of ``a * x + b`` is then
    three 32 x 32-bit products, which the compiler runs on vector lanes over the functions
    (the same values as the 64-bit product, twice as fast)."""
    docs = len(offsets) - 1
    functions = len(a_low)
    keys = np.empty((docs, bands), dtype=np.uint64)
    shingles = np.empty(shingle_offsets[-1], dtype=np.uint32)
    signature = np.empty(functions, dtype=np.uint32)
    for d in range(docs):
        start, words_in = offsets[d], offsets[d + 1] - offsets[d]
        signature[:] = np.uint32(0xFFFFFFFF)
        length = min(n, words_in)
        first = shingle_offsets[d]
        for j in range(shingle_offsets[d + 1] - first):
            x = shingle_at(words, start + j, length)
            shingles[first + j] = np.uint32(x >> np.uint64(32))  # ``set_members``
            x_low, x_high = x & np.uint64(0xFFFFFFFF), x >> np.uint64(32)
            for f in range(functions):  # 32-bit loads: the compiler knows the products' size
                low = np.uint64(a_low[f]) * x_low + np.uint64(b_low[f])  # below 2**64
                top = (low >> np.uint64(32)) + np.uint64(b_high[f])
                top += np.uint64(a_high[f]) * x_low + np.uint64(a_low[f]) * x_high
                signature[f] = min(signature[f], np.uint32(top & np.uint64(0xFFFFFFFF)))
        for band in range(bands):
            key = np.uint64(band + 1)
            for r in range(band * rows, (band + 1) * rows):
                key = key * NGRAM_PRIME + np.uint64(signature[r])
            keys[d, band] = mix64_one(key)
    return keys, shingles


@register
class MinHashDedup(CorpusStage):
    """Remove near-duplicates; each removed document names the document it duplicates."""

    name = "minhash_dedup"
    ParamsModel = MinHashParams
    summary = "MinHash-LSH on word 5-gram shingles (14x8), clusters verified by true Jaccard"
    origin = "Broder 1997; LSH as in FineWeb (Penedo et al. 2024), verification as text-dedup"
    index_params = ("ngram", "bands", "rows", "seed", "view")
    index_text = True
    """An index keeps the compared text: verification needs a reference document's shingles."""
    reads = ("reference",)

    @property
    def signature_columns(self) -> tuple[str, ...]:
        return (*(f"_mh_band{i}" for i in range(self.params.bands)), "_mh_shingles")

    def __init__(self, params=None) -> None:
        super().__init__(params)
        p = self.params
        a, b = permutations(p.bands * p.rows, p.seed)
        self._functions = (*halves(a), *halves(b))

    def map(self, batch: pa.RecordBatch) -> dict[str, pa.Array]:
        p = self.params
        words, offsets = word_hashes(view_array(batch, p.view))
        shingle_offsets = shingle_offsets_of(offsets, p.ngram)
        keys, shingles = band_keys(
            words, offsets, p.ngram, *self._functions, p.bands, p.rows, shingle_offsets
        )
        out = {f"_mh_band{i}": pa.array(keys[:, i]) for i in range(p.bands)}
        out["_mh_shingles"] = pa.array(np.diff(shingle_offsets), pa.int64())
        out[SHINGLE_SET] = pa.LargeListArray.from_arrays(
            pa.array(shingle_offsets), pa.array(shingles)
        )
        return out

    def reduce(self, shards: Sequence[ShardColumns], run: RunContext) -> list[pa.Table]:
        p = self.params
        bands = self.signature_columns[:-1]
        verifier = JaccardVerifier(p.ngram, p.threshold, bands, p.view) if p.verify else None

        def decide(every: list[ShardColumns], fixed: int) -> list[pa.Table]:
            candidates = Candidates.from_band_keys(run, every, bands, "_mh_shingles", fixed)
            if p.keep_highest is not None:
                candidates.rank_by(every, p.keep_highest)
            return near_duplicate_drops(run, candidates, every, verifier, "near_duplicate")

        return with_reference(self, shards, run, decide)


@dataclass(frozen=True)
class JaccardVerifier:
    """True Jaccard similarity of shingle sets, loaded shard by shard for a slice."""

    ngram: int
    threshold: float
    bands: tuple[str, ...]
    view: str = "text"

    def load(self, shards: Sequence[ShardColumns], shard: np.ndarray, row: np.ndarray):
        """Distinct shingles (ascending), where each document's are, and band keys of
        documents ``(shard, row)``."""
        order = np.lexsort((row, shard))
        sorted_shard, sorted_row = shard[order], row[order]
        sets, keys = [], []
        for s in np.unique(shard).tolist():
            rows = sorted_row[sorted_shard == s]
            table = shards[s]([*self._compared(shards[s].schema.names), *self.bands])
            sets += self._sets(table, rows)
            bands = table.select(list(self.bands)).take(pa.array(rows))
            keys.append(np.stack([bands.column(b).to_numpy() for b in self.bands], axis=1))
        members = np.concatenate([m for m, _ in sets])
        offsets = np.zeros(len(order) + 1, dtype=np.int64)
        np.cumsum(np.concatenate([np.diff(o) for _, o in sets]), out=offsets[1:])
        back = np.empty_like(order)
        back[order] = np.arange(len(order))  # loaded in (shard, row) order: back to asked
        return members, offsets[:-1][back], offsets[1:][back], np.concatenate(keys)[back]

    def _compared(self, names: list[str]) -> list[str]:
        """The columns a shard's shingles come from: the map's ``_mh_set``, or, in a
        reference part (which keeps the compared text instead), the text."""
        if SHINGLE_SET in names:
            return [SHINGLE_SET]
        text = ["text", "messages"] if self.view != "text" else ["text"]
        return [c for c in text if c in names]

    def _sets(self, table: pa.Table, rows: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """The distinct shingles of ``rows`` (ascending), as ``distinct_sorted`` gives them,
        a piece per record batch: read from the map's column (from uncompressed scratch,
        memory-mapped: nothing is copied but those rows' lists), or hashed from the text."""
        if SHINGLE_SET not in table.schema.names:
            shingles = shingle_hashes(view_array(table.take(pa.array(rows)), self.view), self.ngram)
            members = set_members(shingles.hashes)
            return [distinct_sorted(members, shingles.offsets, np.arange(len(rows)))]
        chunks = table.column(SHINGLE_SET).chunks
        ends = np.cumsum([len(chunk) for chunk in chunks])
        pieces, lo = [], 0
        for chunk, end, hi in zip(chunks, ends, np.searchsorted(rows, ends)):
            if hi > lo:  # the buffers of a large_list<uint32>: offsets, then the values
                _, offsets, _, values = chunk.buffers()
                at = chunk.offset
                offsets = np.frombuffer(offsets, np.int64)[at : at + len(chunk) + 1]
                values = np.frombuffer(values or b"", np.uint32)  # no buffer: no shingles
                pieces.append(distinct_sorted(values, offsets, rows[lo:hi] - (end - len(chunk))))
            lo = hi
        return pieces
