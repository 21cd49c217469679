"""The shared chunk table: a batch made of texts of the last batch (kept by a filter,
reordered, repeated) takes their chunks from it instead of splitting again, and gives the
words a fresh table finds; any other batch is split."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from tests.conftest import corpus_records
from winnow.text.token_ids import TokenIds
from winnow.text.words import english


def _words(table: TokenIds, texts: pa.Array) -> list[list[str]]:
    encoded = table.english(texts)
    tokens = [table.tokens[i] for i in encoded.ids.tolist()]
    return [tokens[a:b] for a, b in zip(encoded.bounds[:-1], encoded.bounds[1:])]


def test_a_batch_of_earlier_texts_takes_their_chunks(monkeypatch):
    texts = [r["text"] for r in corpus_records("manpages", limit=300)] + ["", "  ", "one"]
    first = pa.array(texts, pa.large_string())
    table = TokenIds()
    splits = []
    index = table._index
    monkeypatch.setattr(table, "_index", lambda array: splits.append(len(array)) or index(array))
    table.chunk_index(first)
    rows = np.random.default_rng(0).choice(len(texts), 200)  # repeats and any order
    kept = first.take(pa.array(rows))
    assert _words(table, kept) == _words(TokenIds(), kept)
    assert table.word_counts(kept).tolist() == TokenIds().word_counts(kept).tolist()
    assert splits == [len(texts)]  # the second batch was not split again
    other = pa.array(texts[:5] + ["a text the last batch did not have"], pa.large_string())
    assert _words(table, other) == _words(TokenIds(), other)
    assert splits == [len(texts), 6]


def test_chunks_are_those_of_str_split_with_or_without_unusual_whitespace():
    texts = [r["text"] for r in corpus_records("abstracts", limit=200)]
    odd = [t.replace(" ", "\u3000", 3).replace(".", ".\x1c", 2) for t in texts[:50]]
    for batch in (texts, odd + ["a\x85b\xa0c\u2028d"]):  # Arrow's ASCII split, then UTF-8's
        table = TokenIds()
        words = _words(table, pa.array(batch, pa.large_string()))
        assert words == [english().words(t) for t in batch]
