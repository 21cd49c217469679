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


class TokenCodes:
    """Tokens' characters back to back as code points, encoded once for several tests."""

    def __init__(self, tokens: list[str]) -> None:
        self.tokens = tokens
        self.lengths = np.fromiter(map(len, tokens), np.int64, len(tokens))
        codes = np.frombuffer("".join(tokens).encode("utf-32-le", "surrogatepass"), np.uint32)
        self._beyond = codes >= _PLANE
        self._codes = np.where(self._beyond, 0, codes)  # beyond the plane: tested in Python
        self._nonempty = self.lengths > 0
        self._starts = (np.cumsum(self.lengths) - self.lengths)[self._nonempty]

    def _any(self, hits: np.ndarray) -> np.ndarray:
        """Per token: does any of its characters hit."""
        out = np.zeros(len(self.tokens), dtype=bool)
        if len(hits):
            out[self._nonempty] = np.logical_or.reduceat(hits, self._starts)
        return out

    def any_char(self, table: np.ndarray, test: Callable[[str], bool]) -> np.ndarray:
        """Per token: does any of its characters pass ``table`` (indexed by code point, the
        plane only) — ``test(character)`` for tokens with a character beyond it."""
        out = self._any(table[self._codes] & ~self._beyond)
        if self._beyond.any():
            for i in np.flatnonzero(self._any(self._beyond)):
                out[i] = any(map(test, self.tokens[i]))
        return out

    def any_alpha(self) -> np.ndarray:
        """Per token: does it hold a letter (``any(ch.isalpha() for ch in token)``)."""
        return self.any_char(_is_alpha(), str.isalpha)

    def any_outside(self, chars: Iterable[str]) -> np.ndarray:
        """Per token: does it hold a character not in ``chars``."""
        chars = frozenset(chars)
        return self.any_char(_outside(chars), lambda c: c not in chars)
