"""Documents as one flat array of word ids, for statistics computed over a whole batch.

A whitespace chunk always splits into the same spaCy-English tokens, so each distinct chunk
is split once (``EnglishWords``) and remembered as a range of token ids; a batch is then
encoded with one dict lookup per chunk and numpy, not one Python step per word.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from itertools import chain, repeat

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from winnow.text.utf8 import OTHER_SPACES, hash128
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
        self._last: _Remembered | None = None
        self.vocab: dict[str, int] = {}
        self.tokens: list[str] = []  # by id
        self.chunks: dict[str, int] = {}
        empty = np.zeros(0, dtype=np.int64)
        self._token_lengths = empty
        self._chunk_ids = empty  # token ids of all chunks, back to back
        self._chunk_start = empty
        self._chunk_size = empty

    def _add_chunks(self, chunks: list[str]) -> None:
        """Split chunks not seen before into tokens and number both: each chunk's tokens
        are found once (``EnglishWords.tokens_of_chunk``), then the whole lot is numbered in
        a few passes."""
        split = list(map(english().tokens_of_chunk, chunks))
        sizes = np.fromiter(map(len, split), np.int64, len(split))
        words = list(chain.from_iterable(split))
        vocab, known = self.vocab, len(self.vocab)
        # a token not in the vocabulary gets the next number, in order of first occurrence
        ids = np.array([vocab.setdefault(w, len(vocab)) for w in words], dtype=np.int64)
        if len(vocab) > known:
            _, first = np.unique(ids, return_index=True)
            new_tokens = [words[i] for i in first[ids[first] >= known]]
            self.tokens += new_tokens
            lengths = np.fromiter(map(len, new_tokens), np.int64, len(new_tokens))
            self._token_lengths = np.concatenate([self._token_lengths, lengths])
        numbered = len(self._chunk_start)
        self.chunks.update(zip(chunks, range(numbered, numbered + len(chunks))))
        starts = len(self._chunk_ids) + np.cumsum(sizes) - sizes
        self._chunk_ids = np.concatenate([self._chunk_ids, ids])
        self._chunk_start = np.concatenate([self._chunk_start, starts])
        self._chunk_size = np.concatenate([self._chunk_size, sizes])

    def chunk_tokens(self, first: int) -> tuple[np.ndarray, np.ndarray]:
        """The token ids of chunks ``first, first + 1, ...`` back to back, and where each
        chunk starts among them."""
        flat, start = self._chunk_ids, self._chunk_start
        if first >= len(start):
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        return flat[start[first] :], start[first:] - start[first]

    def chunk_index(self, texts: list[str] | pa.Array) -> tuple[np.ndarray, np.ndarray]:
        """Table index of every chunk of ``texts`` (strings, or an Arrow string array),
        and chunks before each document. The last batch is remembered: stages that run one
        after another on the same texts, or on the texts an earlier stage kept, look their
        chunks up once."""
        last = self._last
        if last is not None and _same_texts(last.texts, texts):
            return last.picked, last.per_doc
        if len(self.chunks) > self.LIMIT or len(self.vocab) > self.LIMIT:
            self._reset()
        array = texts if isinstance(texts, pa.Array) else pa.array(texts, pa.large_string())
        if array.null_count:
            array = array.fill_null("")
        hashes = hash128(array)[1]
        found = self._last.rows_of(array, hashes) if self._last is not None else None
        if found is not None:  # every text was in the last batch: take its chunks
            picked, per_doc = self._last.documents(found)
        else:
            picked, per_doc = self._index(array)
        self._last = _Remembered(texts, array, hashes, picked, per_doc)
        return picked, per_doc

    def _index(self, array: pa.Array) -> tuple[np.ndarray, np.ndarray]:
        """``chunk_index`` of texts split here: Arrow splits as ``str.split()`` does,
        leaving empty strings at the edges (its ASCII kernel knows space and \\t to \\r,
        enough where no other space occurs); each distinct chunk of the batch is looked up
        once, and the new ones are numbered in the order of their first occurrence."""
        odd = pc.any(pc.match_substring_regex(array, f"[{OTHER_SPACES}]")).as_py()
        lists = (pc.utf8_split_whitespace if odd else pc.ascii_split_whitespace)(array)
        chunks = lists.values
        real = pc.greater(pc.binary_length(chunks), 0).to_numpy(zero_copy_only=False)
        before = np.concatenate([[0], np.cumsum(real)])
        per_doc = before[lists.offsets.to_numpy().astype(np.int64)]
        encoded = pc.dictionary_encode(chunks.filter(pa.array(real)))
        distinct = encoded.dictionary.to_pylist()
        index = np.fromiter(map(self.chunks.get, distinct, repeat(-1)), np.int64, len(distinct))
        missing = np.flatnonzero(index < 0)
        if len(missing):
            first = len(self._chunk_start)
            self._add_chunks([distinct[i] for i in missing])
            index[missing] = np.arange(first, first + len(missing))
        return index[encoded.indices.to_numpy(False)], per_doc

    def word_counts(self, texts: list[str] | pa.Array) -> np.ndarray:
        """Number of spaCy-English tokens of each text."""
        picked, per_doc = self.chunk_index(texts)
        tokens = np.concatenate([[0], np.cumsum(self._chunk_size[picked])])
        return np.diff(tokens[per_doc])

    def english(self, texts: list[str] | pa.Array) -> EncodedBatch:
        """spaCy-English tokens of each text (as ``EnglishWords.words``)."""
        picked, per_doc = self.chunk_index(texts)
        sizes = self._chunk_size[picked]
        # token positions: each chunk's range of ``_chunk_ids``, concatenated
        ends = np.cumsum(sizes)
        offsets = np.repeat(self._chunk_start[picked] - (ends - sizes), sizes)
        positions = offsets + np.arange(int(ends[-1]) if len(ends) else 0, dtype=np.int64)
        ids = self._chunk_ids[positions]
        chunk_ends = np.concatenate([[0], ends])
        return EncodedBatch(ids, self._token_lengths[ids], chunk_ends[per_doc])

    def words(self, word_lists: list[list[str]]) -> EncodedBatch:
        """Words already split (by a dictionary segmenter)."""
        vocab: dict[str, int] = {}
        ids = [vocab.setdefault(w, len(vocab)) for w in chain.from_iterable(word_lists)]
        bounds = np.zeros(len(word_lists) + 1, dtype=np.int64)
        np.cumsum([len(words) for words in word_lists], out=bounds[1:])
        lengths = np.fromiter(map(len, chain.from_iterable(word_lists)), np.int64, len(ids))
        return EncodedBatch(np.array(ids, dtype=np.int64), lengths, bounds)


@dataclass
class _Remembered:
    """The last batch ``chunk_index`` was given: its texts, their xxh3 hashes, and their
    chunks (``picked``, ``per_doc``)."""

    texts: list[str] | pa.Array
    array: pa.Array
    hashes: np.ndarray
    picked: np.ndarray
    per_doc: np.ndarray

    def rows_of(self, array: pa.Array, hashes: np.ndarray) -> np.ndarray | None:
        """The row of this batch holding each text of ``array`` (found by hash, then
        compared byte for byte), or None when one is not here."""
        order = np.argsort(self.hashes, kind="stable")
        at = np.minimum(np.searchsorted(self.hashes, hashes, sorter=order), len(order) - 1)
        if not len(order) or not np.array_equal(self.hashes[order[at]], hashes):
            return None
        rows = order[at]
        if len(rows) and not pc.all(pc.equal(self.array.take(rows), array)).as_py():
            return None
        return rows

    def documents(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``picked`` and ``per_doc`` of these rows of this batch, in this order."""
        starts, ends = self.per_doc[rows], self.per_doc[rows + 1]
        sizes = ends - starts
        per_doc = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum(sizes, out=per_doc[1:])
        positions = np.repeat(starts - per_doc[:-1], sizes) + np.arange(per_doc[-1])
        return self.picked[positions], per_doc


def _same_texts(a: list[str] | pa.Array, b: list[str] | pa.Array) -> bool:
    if isinstance(a, pa.Array) and isinstance(b, pa.Array):
        return a is b or (len(a) == len(b) and a.equals(b))
    return type(a) is type(b) and a == b


@cache
def token_ids() -> TokenIds:
    """One table per process, shared by the stages that count words."""
    return TokenIds()
