"""N-gram statistics of the Gopher repetition rules for a whole batch of documents at once.

N-grams are sequences of words. Each n-gram gets a 64-bit key (a polynomial hash of its
word ids, mixed with its document's index, so documents never share a key); counting them
is one ``np.unique`` over the batch. Only the duplicated-n-gram scan, which jumps past each
repeat, is sequential, and it runs only for documents where it can change the decision.
"""

from __future__ import annotations

import numpy as np

from winnow.text.token_ids import EncodedBatch

_P = np.uint64(0x100000001B3)
_DOC = np.uint64(0x9E3779B97F4A7C15)
COMPILED_SCAN_FROM = 50_000
"""N-grams to scan in one batch above which the compiled scan runs (``ngram_scan``)."""


class BatchNgrams:
    """An n-gram can only repeat where an (n-1)-gram repeats, so bigrams are counted over
    the whole batch and longer n-grams only at the positions where shorter ones repeat."""

    def __init__(self, batch: EncodedBatch) -> None:
        self.ids = batch.ids.astype(np.uint64) + np.uint64(1)
        self.bounds = batch.bounds
        self.words = np.diff(batch.bounds)
        self.docs = len(self.words)
        self.doc_of = np.repeat(np.arange(self.docs, dtype=np.int64), self.words)
        self.starts = np.zeros(len(self.ids) + 1, dtype=np.int64)
        np.cumsum(batch.lengths, out=self.starts[1:])
        self._repeated: dict[int, tuple[np.ndarray, ...]] = {}

    def _repeats(self, n: int) -> tuple[np.ndarray, ...]:
        """The n-grams that occur more than once in their document: position, document,
        count, whether an earlier position holds the same n-gram, and key."""
        found = self._repeated.get(n)
        if found is not None:
            return found
        if n <= 2:  # every position
            position = np.arange(max(len(self.ids) - n + 1, 0), dtype=np.int64)
            keys = self.ids[: len(position)]
            if n == 2:
                with np.errstate(over="ignore"):
                    keys = keys * _P + self.ids[1:]
        else:
            shorter, _, _, _, shorter_keys = self._repeats(n - 1)
            fits = shorter + n <= len(self.ids)
            position = shorter[fits]
            with np.errstate(over="ignore"):
                keys = shorter_keys[fits] * _P + self.ids[position + n - 1]
        doc = self.doc_of[position]
        inside = position + n <= self.bounds[doc + 1]
        position, doc, keys = position[inside], doc[inside], keys[inside]
        with np.errstate(over="ignore"):
            mixed = keys ^ (doc.astype(np.uint64) * _DOC)
        count, repeat = occurrences(mixed)
        many = count > 1
        found = (position[many], doc[many], count[many], repeat[many], keys[many])
        self._repeated[n] = found
        return found

    def _chars(self, position: np.ndarray, n: int) -> np.ndarray:
        """Characters of the n-gram at ``position``, spaces excluded."""
        return self.starts[position + n] - self.starts[position]

    def top_gram_chars(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Per document: ``len(" ".join(top n-gram)) * count`` and the count (0 where the
        document has fewer than ``n`` words). The top n-gram is the most frequent and,
        among ties, the first to appear, as ``Counter.most_common(1)``."""
        if len(self.ids) < n:
            return np.zeros(self.docs, np.int64), np.zeros(self.docs, np.int64)
        best = (self.words >= n).astype(np.int64)  # no repeats: every n-gram once
        first = self.bounds[:-1].copy()  # ... and the first wins
        position, doc, count, _, _ = self._repeats(n)
        if len(position):
            present, segment = np.unique(doc, return_index=True)
            top = np.maximum.reduceat(count, segment)
            at_top = count == np.repeat(top, np.diff(np.append(segment, len(doc))))
            index = np.where(at_top, np.arange(len(doc)), len(doc))
            best[present] = top
            first[present] = position[np.minimum.reduceat(index, segment)]
        chars = np.where(best > 0, self._chars(np.minimum(first, len(self.ids) - n), n), 0)
        return (chars + n - 1) * best, best

    def duplicate_chars(self, n: int, limits: np.ndarray) -> np.ndarray:
        """Per document, Gopher's duplicated n-gram characters as datatrove counts them:
        scanning left to right, an n-gram seen before adds its characters (without spaces)
        and the scan jumps past it. Where even counting every repeat cannot exceed the
        document's ``limit``, that upper bound is returned instead of scanning; -1 where no
        n-gram repeats."""
        position, doc, _, repeat, keys = self._repeats(n)
        sizes = self._chars(position, n)
        bound = np.bincount(doc[repeat], weights=sizes[repeat], minlength=self.docs)
        out = np.where(np.bincount(doc, minlength=self.docs) > 0, bound, -1).astype(np.int64)
        edges = np.searchsorted(doc, np.arange(self.docs + 1))
        todo = np.flatnonzero((out >= 0) & (bound > limits))
        if (edges[todo + 1] - edges[todo]).sum() > COMPILED_SCAN_FROM:
            from winnow.text.ngram_scan import scan_documents

            out[todo] = scan_documents(position, keys, sizes, edges, todo, n)
            return out
        for d in todo.tolist():
            mine = slice(edges[d], edges[d + 1])  # a unique n-gram cannot have been seen
            out[d] = _scan(position[mine].tolist(), keys[mine].tolist(), sizes[mine].tolist(), n)
        return out


def occurrences(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each key: how many times it occurs, and whether it occurred before. One
    unstable sort (numpy's vectorised quicksort) with the first occurrence of each run of
    equal keys taken as its smallest index; ``np.unique`` asks for a stable sort and three
    scatters (3x slower on millions of n-grams)."""
    order = np.argsort(keys, kind="quicksort")
    ordered = keys[order]
    starts = np.ones(len(keys), dtype=bool)
    np.not_equal(ordered[1:], ordered[:-1], out=starts[1:])
    run = np.cumsum(starts) - 1
    at = np.flatnonzero(starts)
    count = np.empty(len(keys), dtype=np.int64)
    repeat = np.empty(len(keys), dtype=bool)
    if len(keys):
        count[order] = np.diff(np.append(at, len(keys)))[run]
        repeat[order] = np.minimum.reduceat(order, at)[run] < order
    return count, repeat


def _scan(positions: list[int], keys: list[int], sizes: list[int], n: int) -> int:
    seen: set[int] = set()
    total, resume = 0, 0
    for i, key, size in zip(positions, keys, sizes):
        if i < resume:
            continue  # inside an n-gram already counted: the scan jumped past it
        if key in seen:
            total += size
            resume = i + n
        else:
            seen.add(key)
    return total
