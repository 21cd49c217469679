"""Character tests of many tokens at once: their characters back to back as code points,
looked up in tables of the Basic Multilingual Plane, and or-ed per token with numpy.
Tokens with a character beyond U+FFFF (rare) are tested in Python."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import cache

import numpy as np

_PLANE = 0x10000


@cache
def _is_alpha() -> np.ndarray:
    """``str.isalpha`` of each code point of the plane (surrogates: False)."""
    return np.array([chr(c).isalpha() for c in range(_PLANE)], dtype=bool)


@cache
def _outside(chars: frozenset[str]) -> np.ndarray:
    """Each code point of the plane: not one of ``chars``."""
    table = np.ones(_PLANE, dtype=bool)
    table[[ord(c) for c in chars if len(c) == 1 and ord(c) < _PLANE]] = False
    return table


def any_char(tokens: list[str], table: np.ndarray, test: Callable[[str], bool]) -> np.ndarray:
    """Per token: does any of its characters pass ``table`` (indexed by code point, the
    plane only) — ``test(character)`` for tokens with a character beyond it."""
    lengths = np.fromiter(map(len, tokens), np.int64, len(tokens))
    codes = np.frombuffer("".join(tokens).encode("utf-32-le", "surrogatepass"), np.uint32)
    out = np.zeros(len(tokens), dtype=bool)
    if not len(codes):
        return out
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    nonempty = lengths > 0
    beyond = codes >= _PLANE
    hits = table[np.where(beyond, 0, codes)] & ~beyond
    out[nonempty] = np.logical_or.reduceat(hits, starts[nonempty])
    if beyond.any():
        far = np.zeros(len(tokens), dtype=bool)
        far[nonempty] = np.logical_or.reduceat(beyond, starts[nonempty])
        for i in np.flatnonzero(far):
            out[i] = any(map(test, tokens[i]))
    return out


def any_alpha(tokens: list[str]) -> np.ndarray:
    """Per token: does it hold a letter (``any(ch.isalpha() for ch in token)``)."""
    return any_char(tokens, _is_alpha(), str.isalpha)


def any_outside(tokens: list[str], chars: Iterable[str]) -> np.ndarray:
    """Per token: does it hold a character not in ``chars``."""
    chars = frozenset(chars)
    return any_char(tokens, _outside(chars), lambda c: c not in chars)
