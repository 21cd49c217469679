"""Near-duplicate removal with MinHash-LSH (Broder 1997; FineWeb's settings: word 5-gram
shingles, 14 bands of 8 rows), verified by true Jaccard similarity.

map: each document's MinHash signature (numpy, ``bands * rows`` hash functions
``a * x + b`` over 64-bit shingle hashes) folded into one key per band.
reduce: documents sharing a band key are candidates; candidate groups are the connected
components of those collisions (``components.py``). Within a group, documents are taken in
keep order (first in input order, or highest ``keep_highest`` score) and each is compared by
true Jaccard similarity of its shingle sets with the documents kept so far that share a band
with it: at or above ``threshold`` it is removed as a duplicate of the first such document,
otherwise it is kept.
So a chain of merges (A~B, B~C) never removes C for A unless C is itself like A.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
from pydantic import Field, model_validator

from winnow.chat.view import View, view_array
from winnow.stages.base import CorpusStage, RunContext, ShardColumns, register
from winnow.stages.dedup.components import Candidates, near_duplicate_drops
from winnow.stages.dedup.reference import ReferenceParams, with_reference
from winnow.stages.dedup.shingles import mix64, shingle_hashes

_P = np.uint64(0x100000001B3)
_LITTLE_ENDIAN = sys.byteorder == "little"


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


def signatures(hashes: np.ndarray, offsets: np.ndarray, a: np.ndarray, b: np.ndarray):
    """MinHash signature (documents x hash functions, 32-bit values: the top half of
    ``a * x + b``, multiply-shift hashing) of each document; documents without shingles
    keep the maximum value everywhere."""
    docs = len(offsets) - 1
    out = np.full((len(a), docs), np.iinfo(np.uint32).max, dtype=np.uint32)
    present = np.nonzero(np.diff(offsets) > 0)[0]
    if not len(present):
        return out.T
    starts = offsets[present]
    step = max(1, (1 << 22) // max(len(hashes), 1))  # bound the (functions x shingles) block
    block = np.empty((min(step, len(a)), len(hashes)), dtype=np.uint64)
    for k in range(0, len(a), step):
        n = min(step, len(a) - k)
        values = block[:n]
        np.multiply(a[k : k + n, None], hashes[None, :], out=values)
        np.add(values, b[k : k + n, None], out=values)
        if _LITTLE_ENDIAN:  # the high half of each value, without a copy
            top = values.view(np.uint32)[:, 1::2]
        else:
            top = (values >> np.uint64(32)).astype(np.uint32)
        out[k : k + n, present] = np.minimum.reduceat(top, starts, axis=1)
    return out.T


def band_keys(signature: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """One 64-bit key per band (documents x bands)."""
    keys = np.zeros((len(signature), bands), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for band in range(bands):
            key = np.full(len(signature), band + 1, dtype=np.uint64)
            for r in range(band * rows, (band + 1) * rows):
                key = key * _P + signature[:, r].astype(np.uint64)
            keys[:, band] = mix64(key)
    return keys


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
        self._a, self._b = permutations(p.bands * p.rows, p.seed)

    def map(self, batch: pa.RecordBatch) -> dict[str, pa.Array]:
        shingles = shingle_hashes(view_array(batch, self.params.view), self.params.ngram)
        signature = signatures(shingles.hashes, shingles.offsets, self._a, self._b)
        keys = band_keys(signature, self.params.bands, self.params.rows)
        out = {f"_mh_band{i}": pa.array(keys[:, i]) for i in range(self.params.bands)}
        out["_mh_shingles"] = pa.array(np.diff(shingles.offsets), pa.int64())
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

    def load(self, shards: Sequence[ShardColumns], wanted: dict[int, np.ndarray]):
        found = {}
        for shard, rows in wanted.items():
            columns = ["text", "messages"] if self.view != "text" else ["text"]
            names = shards[shard].schema.names  # a reference's part holds its view as text
            columns = [c for c in columns if c in names]
            table = shards[shard]([*columns, *self.bands]).take(pa.array(rows))
            shingles = shingle_hashes(view_array(table, self.view), self.ngram)
            keys = np.stack([table.column(b).to_numpy() for b in self.bands], axis=1)
            for i, row in enumerate(rows.tolist()):
                found[(shard, row)] = (shingles.of(i), keys[i])
        return found

    def similar(self, a: frozenset, b: frozenset) -> bool:
        if not a or not b:
            return False
        common = len(a & b)
        return common >= self.threshold * (len(a) + len(b) - common)
