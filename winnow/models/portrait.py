"""A training-data sketch: a Bloom filter over the character n-grams of a corpus (Data
Portraits, Marone & Van Durme 2023), in numpy, saved as an ``.npz`` of plain arrays.

Text is lower-cased with whitespace runs collapsed to one space. A document is stored as its
non-overlapping ``ngram``-character chunks (stride = width, as Data Portraits); a query is
read at every one of the ``ngram`` alignments and scores the best one: the fraction of its
chunks at that alignment found in the filter. Any text copied from a sketched document
scores 1.0 at its alignment (a Bloom filter has no false negatives); unrelated text scores
about the filter's false-positive rate. Bits per stored chunk are sized so the filter is
``ratio`` (3%) of the text it sketches; ``hashes`` positions per chunk by double hashing
of one xxh3-64 value.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xxhash

_SPACE = re.compile(r"\s+")


def normalise(text: str) -> str:
    return _SPACE.sub(" ", text.lower()).strip()


def chunk_hashes(text: str, ngram: int, start: int = 0) -> np.ndarray:
    """xxh3-64 of the non-overlapping ``ngram``-character chunks of normalised ``text``
    from ``start`` (a shorter tail is not a chunk)."""
    text = normalise(text)
    ends = range(start + ngram, len(text) + 1, ngram)
    return np.fromiter(
        (xxhash.xxh3_64_intdigest(text[e - ngram : e].encode("utf-8")) for e in ends),
        np.uint64,
        len(ends),
    )


@dataclass
class Portrait:
    bits: np.ndarray  # packed, little bit order
    size: int  # bits in the filter
    hashes: int
    ngram: int
    stored: int  # chunks added
    chars: int  # characters of the sketched text

    @classmethod
    def empty(cls, chunks: int, chars: int, ngram: int, ratio: float = 0.03) -> Portrait:
        size = max(64, int(chars * 8 * ratio))
        per_item = size / max(chunks, 1)
        hashes = min(16, max(1, round(per_item * math.log(2))))
        return cls(np.zeros((size + 7) // 8, np.uint8), size, hashes, ngram, 0, chars)

    def _positions(self, keys: np.ndarray) -> np.ndarray:
        low = keys & np.uint64(0xFFFFFFFF)
        high = (keys >> np.uint64(32)) | np.uint64(1)
        step = np.arange(self.hashes, dtype=np.uint64)
        with np.errstate(over="ignore"):
            return ((low[:, None] + step[None, :] * high[:, None]) % np.uint64(self.size)).ravel()

    def add(self, keys: np.ndarray) -> None:
        where = self._positions(keys).astype(np.int64)
        np.bitwise_or.at(self.bits, where >> 3, (1 << (where & 7)).astype(np.uint8))
        self.stored += len(keys)

    def has(self, keys: np.ndarray) -> np.ndarray:
        where = self._positions(keys).astype(np.int64)
        present = (self.bits[where >> 3] >> (where & 7).astype(np.uint8)) & 1
        return present.reshape(len(keys), self.hashes).all(axis=1)

    def score(self, text: str) -> tuple[float, int]:
        """(fraction of the query's chunks found at its best alignment, chunks read)."""
        best, count = 0.0, 0
        for start in range(self.ngram):
            keys = chunk_hashes(text, self.ngram, start)
            if len(keys):
                found = float(self.has(keys).mean())
                if found > best or not count:
                    best, count = found, len(keys)
        return best, count

    def false_positive_rate(self) -> float:
        """Expected, from the filling: (set bits / size) ** hashes."""
        filled = int(np.unpackbits(self.bits, bitorder="little")[: self.size].sum())
        return (filled / self.size) ** self.hashes

    def save(self, path: str | os.PathLike) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        header = {k: getattr(self, k) for k in ("size", "hashes", "ngram", "stored", "chars")}
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}.npz")
        np.savez(tmp, bits=self.bits, header=np.array(json.dumps(header)))
        os.replace(tmp, path)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> Portrait:
        try:
            with np.load(path, allow_pickle=False) as saved:
                header = json.loads(str(saved["header"]))
                return cls(saved["bits"], **header)
        except (OSError, KeyError, ValueError) as err:
            raise ValueError(f"{path}: not a winnow portrait ({err})") from err


def find(path: str | os.PathLike) -> Path:
    """A sketch file, or the one a run folder holds (``artifacts/*/portrait.npz``)."""
    path = Path(path)
    if path.is_dir():
        found = sorted(path.glob("artifacts/*/portrait.npz")) + sorted(path.glob("portrait.npz"))
        if not found:
            raise ValueError(f"{path}: no portrait in this folder (run the portrait stage)")
        return found[-1]
    if not path.exists():
        raise ValueError(f"{path}: no such sketch")
    return path


def sketch(texts: Iterable[str], ngram: int = 50, ratio: float = 0.03) -> Portrait:
    """A portrait of ``texts`` (held in memory: for a corpus use the ``portrait`` stage)."""
    keys = [chunk_hashes(t, ngram) for t in texts]
    chars = sum(len(k) for k in keys) * ngram
    portrait = Portrait.empty(sum(len(k) for k in keys), chars, ngram, ratio)
    for k in keys:
        portrait.add(k)
    return portrait
