"""Gopher's duplicated-n-gram scan compiled with numba, for batches where it has many
n-grams to walk (``BatchNgrams.duplicate_chars`` imports it only then: loading a compiled
kernel costs a few tenths of a second once per process).

The scan is sequential by definition (datatrove's ``find_all_duplicate``): left to right,
an n-gram seen before adds its characters and the scan jumps past it, and the n-grams
jumped over are not remembered. Each document's seen keys live in an open-addressing table
stamped with the document's number, so no table is cleared between documents.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def scan_documents(positions, keys, sizes, edges, docs, n):
    """Duplicated n-gram characters of each document ``d`` in ``docs``, whose n-grams
    (position, key, characters; positions increasing) are ``edges[d]:edges[d + 1]``."""
    longest = 1
    for d in docs:
        longest = max(longest, edges[d + 1] - edges[d])
    bits = 1
    while (1 << bits) < 2 * longest:
        bits += 1
    mask = (1 << bits) - 1
    table = np.zeros(1 << bits, np.uint64)
    stamp = np.zeros(1 << bits, np.int64)
    out = np.zeros(len(docs), np.int64)
    for t in range(len(docs)):
        d = docs[t]
        total, resume = 0, 0
        for j in range(edges[d], edges[d + 1]):
            if positions[j] < resume:
                continue  # inside an n-gram already counted: the scan jumped past it
            key = keys[j]
            slot = np.int64((key * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(64 - bits))
            while stamp[slot] == t + 1 and table[slot] != key:
                slot = (slot + 1) & mask
            if stamp[slot] == t + 1:
                total += sizes[j]
                resume = positions[j] + n
            else:
                stamp[slot] = t + 1
                table[slot] = key
        out[t] = total
    return out
