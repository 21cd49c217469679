"""Batch n-gram statistics against datatrove's own per-document functions."""

from __future__ import annotations

import random

import numpy as np
import pytest
from datatrove.pipeline.filters.gopher_repetition_filter import (
    find_all_duplicate,
    find_top_duplicate,
    get_n_grams,
)

from tests.conftest import corpus_records
from winnow.text import ngrams as ngrams_module
from winnow.text.ngrams import BatchNgrams
from winnow.text.token_ids import TokenIds
from winnow.text.words import english


def _documents() -> list[str]:
    rng = random.Random(7)
    vocabulary = ["ab", "cd", "ef", "gh", "ij"]  # prefix-free: joined n-grams stay distinct
    repetitive = [
        " ".join(rng.choice(vocabulary[: rng.randint(1, 5)]) for _ in range(rng.randint(0, 90)))
        for _ in range(400)
    ]
    real = [p for r in corpus_records("abstracts", limit=200) for p in r["text"].split("\n\n")]
    docs = repetitive + real + ["", "one", "one two", "x x x x x x x x x x x x"]
    rng.shuffle(docs)
    return docs


@pytest.mark.parametrize("compiled_from", [10**12, 0])  # the Python scan, the compiled one
def test_top_and_duplicated_ngrams_match_datatrove(monkeypatch, compiled_from):
    monkeypatch.setattr(ngrams_module, "COMPILED_SCAN_FROM", compiled_from)
    docs = _documents()
    batch = TokenIds().english(docs)
    ngrams = BatchNgrams(batch)
    words = [english().words(text) for text in docs]
    for n in (2, 3, 4):
        chars, count = ngrams.top_gram_chars(n)
        expected = [find_top_duplicate(get_n_grams(w, n)) if len(w) >= n else 0 for w in words]
        assert chars.tolist() == expected, n
        assert all((c == 0) == (len(w) < n) for c, w in zip(count, words))
    exact = np.full(len(docs), -0.5)  # no document can be decided by its bound: always scan
    for n in range(5, 11):
        found = ngrams.duplicate_chars(n, exact)
        assert np.maximum(found, 0).tolist() == [find_all_duplicate(w, n) for w in words], n
        assert all(
            (f == -1) == (len(set(get_n_grams(w, n))) == len(get_n_grams(w, n)))
            for f, w in zip(found, words)
        )


def test_bound_replaces_the_scan_only_below_the_limit():
    docs = ["a b c d e " * 20, "a b c d e f g h i j k"]
    ngrams = BatchNgrams(TokenIds().english(docs))
    scanned = ngrams.duplicate_chars(5, np.array([-0.5, -0.5]))
    bounded = ngrams.duplicate_chars(5, np.array([1e9, 1e9]))
    assert scanned[0] == find_all_duplicate(english().words(docs[0]), 5) == 95
    assert bounded[0] >= scanned[0] and bounded[1] == scanned[1] == -1
