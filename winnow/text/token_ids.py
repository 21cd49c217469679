"""Documents as one flat array of word ids, for statistics computed over a whole batch.

A whitespace chunk always splits into the same spaCy-English tokens, so each distinct chunk
is split once (``EnglishWords``) and remembered as a range of token ids; a batch is then
encoded with one dict lookup per chunk and numpy, not one Python step per word.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from itertools import chain

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from winnow.text.words import english


@dataclass
class EncodedBatch:
    """Word ids of several documents back to back: the words of document ``d`` are
    ``ids[bounds[d]:bounds[d + 1]]``; ``lengths`` holds each word's characters."""

    ids: np.ndarray
    lengths: np.ndarray
    bounds: np.ndarray


class TokenIds:
    LIMIT = 2_000_000
    """Distinct chunks or tokens remembered before the tables start again."""

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self.generation = getattr(self, "generation", -1) + 1
        """Tables built on this table's chunk indices start again when this changes."""
        self._last: tuple[list[str], np.ndarray, np.ndarray] | None = None
        self.chunk_text: list[str] = []
        self.vocab: dict[str, int] = {}
        self.tokens: list[str] = []  # by id
        self.token_lengths: list[int] = []
        self.chunks: dict[str, int] = {}
        self.chunk_ids: list[int] = []  # token ids of all chunks, back to back
        self.chunk_start: list[int] = []
        self.chunk_size: list[int] = []
        self._arrays: tuple[np.ndarray, ...] | None = None

    def _chunk(self, chunk: str) -> int:
        vocab, ids = self.vocab, []
        for token in english().tokens_of_chunk(chunk):
            token_id = vocab.get(token)
            if token_id is None:
                token_id = vocab[token] = len(vocab)
                self.tokens.append(token)
                self.token_lengths.append(len(token))
            ids.append(token_id)
        index = self.chunks[chunk] = len(self.chunk_start)
        self.chunk_text.append(chunk)
        self.chunk_start.append(len(self.chunk_ids))
        self.chunk_size.append(len(ids))
        self.chunk_ids += ids
        return index

    def _tables(self) -> tuple[np.ndarray, ...]:
        """The tables as numpy arrays, extended by what was added since the last call."""
        lists = (self.chunk_ids, self.chunk_start, self.chunk_size, self.token_lengths)
        if self._arrays is None:
            self._arrays = tuple(np.zeros(0, dtype=np.int64) for _ in lists)
        self._arrays = tuple(
            np.concatenate([array, np.array(values[len(array) :], dtype=np.int64)])
            if len(values) > len(array)
            else array
            for array, values in zip(self._arrays, lists)
        )
        return self._arrays

    def chunk_tokens(self, first: int) -> tuple[np.ndarray, np.ndarray]:
        """The token ids of chunks ``first, first + 1, ...`` back to back, and where each
        chunk starts among them."""
        flat, start = self._tables()[:2]
        if first >= len(start):
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        return flat[start[first] :], start[first:] - start[first]

    def chunk_index(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Table index of every chunk of ``texts``, and chunks before each document. The
        last batch is remembered: stages that run one after another on the same texts
        look their chunks up once."""
        last = self._last
        if last is not None and last[0] == texts:
            return last[1], last[2]
        if len(self.chunks) > self.LIMIT or len(self.vocab) > self.LIMIT:
            self._reset()
        # Arrow splits as str.split() does (the same whitespace), leaving empty strings at
        # the edges; each distinct chunk of the batch is looked up once, in the order of its
        # first occurrence, so new chunks get the numbers the text order gives them
        lists = pc.utf8_split_whitespace(pa.array(texts, pa.large_string()))
        chunks = lists.values
        real = pc.greater(pc.binary_length(chunks), 0).to_numpy(zero_copy_only=False)
        before = np.concatenate([[0], np.cumsum(real)])
        per_doc = before[lists.offsets.to_numpy().astype(np.int64)]
        encoded = pc.dictionary_encode(chunks.filter(pa.array(real)))
        get, missing = self.chunks.get, self._chunk
        distinct = [
            c if (c := get(chunk)) is not None else missing(chunk)
            for chunk in encoded.dictionary.to_pylist()
        ]
        picked = np.array(distinct, dtype=np.int64)[encoded.indices.to_numpy(False)]
        self._last = (texts, picked, per_doc)
        return picked, per_doc

    def word_counts(self, texts: list[str]) -> np.ndarray:
        """Number of spaCy-English tokens of each text."""
        picked, per_doc = self.chunk_index(texts)
        tokens = np.concatenate([[0], np.cumsum(self._tables()[2][picked])])
        return np.diff(tokens[per_doc])

    def english(self, texts: list[str]) -> EncodedBatch:
        """spaCy-English tokens of each text (as ``EnglishWords.words``)."""
        picked, per_doc = self.chunk_index(texts)
        flat, start, size, token_lengths = self._tables()
        sizes = size[picked]
        # token positions: each chunk's range of ``flat``, concatenated
        ends = np.cumsum(sizes)
        offsets = np.repeat(start[picked] - (ends - sizes), sizes)
        positions = offsets + np.arange(int(ends[-1]) if len(ends) else 0, dtype=np.int64)
        ids = flat[positions]
        chunk_ends = np.concatenate([[0], ends])
        return EncodedBatch(ids, token_lengths[ids], chunk_ends[per_doc])

    def words(self, word_lists: list[list[str]]) -> EncodedBatch:
        """Words already split (by a dictionary segmenter)."""
        vocab: dict[str, int] = {}
        ids = [vocab.setdefault(w, len(vocab)) for w in chain.from_iterable(word_lists)]
        bounds = np.zeros(len(word_lists) + 1, dtype=np.int64)
        np.cumsum([len(words) for words in word_lists], out=bounds[1:])
        lengths = np.fromiter(map(len, chain.from_iterable(word_lists)), np.int64, len(ids))
        return EncodedBatch(np.array(ids, dtype=np.int64), lengths, bounds)


@cache
def token_ids() -> TokenIds:
    """One table per process, shared by the stages that count words."""
    return TokenIds()
