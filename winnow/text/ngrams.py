"""Vectorised n-gram statistics over a word list, for the Gopher repetition rules.

Two implementations with one result: plain Python over tuples for ordinary documents
(Counter and sets run in C), and numpy over 64-bit n-gram keys for long ones, where
building one tuple per position would dominate. N-grams are sequences of words.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

_P = np.uint64(0x100000001B3)
LONG_DOCUMENT = 2000
"""Words from which the numpy implementation is faster than the tuple one."""


class NgramIndex:
    def __init__(self, words: list[str]) -> None:
        self.words = words
        vocab: dict[str, int] = {}
        self.ids = np.array([vocab.setdefault(w, len(vocab)) for w in words], dtype=np.uint64)
        self.ids += np.uint64(1)
        lengths = np.fromiter(map(len, words), dtype=np.int64, count=len(words))
        self.starts = np.zeros(len(words) + 1, dtype=np.int64)
        np.cumsum(lengths, out=self.starts[1:])

    def word_keys(self, n: int) -> np.ndarray:
        """Key of each n-gram as a sequence of words."""
        m = len(self.ids) - n + 1
        h = np.zeros(m, dtype=np.uint64)
        with np.errstate(over="ignore"):
            for k in range(n):
                h = h * _P + self.ids[k : k + m]
        return h

    def top_gram_chars(self, n: int) -> tuple[int, int]:
        """(``len(" ".join(top n-gram)) * count``, count), the top being the most frequent
        n-gram and, among ties, the first to appear (as ``Counter.most_common(1)``)."""
        keys = self.word_keys(n)
        _, first, counts = np.unique(keys, return_index=True, return_counts=True)
        best = counts.max()
        i = int(first[counts == best].min())
        return int(self.starts[i + n] - self.starts[i] + n - 1) * int(best), int(best)

    def duplicate_chars(self, n: int, limit: float) -> int | None:
        """Gopher's duplicated n-gram characters as datatrove counts them: scanning left to
        right, an n-gram seen before adds its characters (without spaces) and the scan jumps
        past it. Returns an upper bound instead when even counting every repeat could not
        exceed ``limit``. None when no n-gram occurs twice."""
        m = len(self.ids) - n + 1
        if m <= 0:
            return None
        keys = self.word_keys(n)
        _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
        repeat = first[inverse] < np.arange(m)
        if not repeat.any():
            return None
        sizes = self.starts[n : n + m] - self.starts[:m]
        bound = int(sizes[repeat].sum())
        if bound <= limit:
            return bound
        seen: set[int] = set()
        keys_list, sizes_list = keys.tolist(), sizes.tolist()
        total, idx = 0, 0
        while idx < m:
            key = keys_list[idx]
            if key in seen:
                total += sizes_list[idx]
                idx += n
            else:
                seen.add(key)
                idx += 1
        return total


def top_gram_chars(words: list[str], n: int) -> tuple[int, int]:
    """See ``NgramIndex.top_gram_chars``; tuples and a Counter for ordinary documents."""
    ((top, count),) = Counter(zip(*(words[k:] for k in range(n)))).most_common(1)
    return (sum(map(len, top)) + n - 1) * count, count


def duplicate_chars(words: list[str], n: int, limit: float) -> int | None:
    """See ``NgramIndex.duplicate_chars``; tuples and a set for ordinary documents."""
    grams = list(zip(*(words[k:] for k in range(n))))
    if len(set(grams)) == len(grams):
        return None
    seen: set[tuple[str, ...]] = set()
    total, idx, m = 0, 0, len(grams)
    while idx < m:
        gram = grams[idx]
        if gram in seen:
            total += sum(map(len, gram))
            idx += n
        else:
            seen.add(gram)
            idx += 1
    return total
