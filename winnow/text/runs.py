"""Text split into whitespace chunks in Arrow, each distinct chunk tokenised once: the
token runs of the distinct chunks, expanded back to every chunk occurrence with numpy."""

from __future__ import annotations

import numpy as np


def expand_runs(which: np.ndarray, flat: np.ndarray, length: np.ndarray) -> np.ndarray:
    """Concatenate, for every chunk occurrence ``which[i]`` (an index into the distinct
    chunks), that chunk's run of tokens; chunk ``c``'s run is ``length[c]`` values of
    ``flat`` starting where the runs before it end."""
    n = length[which]
    start = (np.cumsum(length) - length)[which]
    return flat[np.repeat(start - np.cumsum(n) + n, n) + np.arange(int(n.sum()))]


def runs_of(rows: list[tuple[int, ...]]) -> tuple[np.ndarray, np.ndarray]:
    """(the rows back to back, each row's length) as int64 arrays."""
    length = np.fromiter(map(len, rows), np.int64, len(rows))
    flat = np.fromiter((i for row in rows for i in row), np.int64, int(length.sum()))
    return flat, length
