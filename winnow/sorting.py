"""Stable argsort of non-negative 64-bit integers through numpy's value sort.

numpy sorts plain integer values with vectorised kernels (x86-simd-sort, Highway), several
times faster than ``argsort``, which sorts indices. So each value's position is packed into
its low bits, the packed values are sorted, and the positions read back:

- values small enough to shift left by the position's bits (document numbers) are packed
  whole, and the order is exact;
- otherwise (64-bit hashes) the position replaces the value's low bits, and runs whose top
  bits tie but whose values differ (rare for well-mixed hashes) are put right afterwards.

Either way the result equals ``np.argsort(values, kind="stable")``.
"""

from __future__ import annotations

import numpy as np
from numba import njit


def stable_argsort(values: np.ndarray) -> np.ndarray:
    """``np.argsort(values, kind="stable")`` for non-negative integers (int64 positions)."""
    return _packed_order(values)[0]


def unique_inverse(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(values, return_inverse=True)`` for non-negative integers."""
    order, ordered = _packed_order(values)
    if ordered is None:
        ordered = values[order]
    first = np.empty(len(ordered), dtype=bool)
    first[:1] = True
    np.not_equal(ordered[1:], ordered[:-1], out=first[1:])
    inverse = np.empty(len(values), dtype=np.int64)
    inverse[order] = np.cumsum(first) - 1
    return ordered[first].astype(values.dtype), inverse


def _packed_order(values: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """``stable_argsort(values)``, and the values in that order where the sort gave them
    (packed whole), else None."""
    n = len(values)
    if n < 2:
        return np.arange(n, dtype=np.int64), values.astype(np.uint64)
    values = values.astype(np.uint64, copy=False)
    bits = (n - 1).bit_length()
    low = np.uint64((1 << bits) - 1)
    if int(values.max()).bit_length() + bits <= 64:  # exact: the value above its position
        packed = values << np.uint64(bits)
        packed |= np.arange(n, dtype=np.uint64)
        packed.sort()  # in place: each array here is new memory, which costs to touch
        order = packed & low
        packed >>= np.uint64(bits)
        return order.view(np.int64), packed
    packed = values & ~low
    packed |= np.arange(n, dtype=np.uint64)
    packed.sort()
    tops = packed & ~low
    packed &= low
    order = packed.view(np.int64)
    _order_ties(values, tops, order)
    return order, None


@njit(cache=True)
def _order_ties(values, tops, order):
    """Within each run of equal top bits (positions ascending), order by the whole value,
    stably, when the run holds more than one value."""
    n = len(order)
    start = 0
    while start < n:
        end = start + 1
        mixed = False
        while end < n and tops[end] == tops[start]:
            mixed |= values[order[end]] != values[order[start]]
            end += 1
        if mixed:
            run = order[start:end].copy()
            keys = values[run]
            order[start:end] = run[np.argsort(keys, kind="mergesort")]
        start = end
