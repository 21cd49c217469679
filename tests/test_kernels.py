"""The compiled text kernels against the libraries whose results they reproduce."""

from __future__ import annotations

import random

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import xxhash

from tests.conftest import corpus_records
from winnow.stages.dedup.shingles import shingles_of_words, word_hashes
from winnow.text.xxh3 import SHORT_MAX, xxh3_64


def test_xxh3_equals_the_xxhash_package_at_every_short_length():
    rng = random.Random(0)
    for length in range(SHORT_MAX + 1):
        for _ in range(5):
            data = bytes(rng.randrange(256) for _ in range(length + 3))
            buf = np.frombuffer(data, dtype=np.uint8)
            assert int(xxh3_64(buf, 3, length)) == xxhash.xxh3_64_intdigest(data[3:])


def _reference_words(text: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Words as Arrow's RE2 splits the lower-cased text on ``\\W+``, hashed by xxhash."""
    words = pc.split_pattern_regex(pc.utf8_lower(pc.fill_null(text, "")), r"\W+")
    lists = words.to_pylist()
    kept = [[w for w in doc if w] for doc in lists]
    hashes = [xxhash.xxh3_64_intdigest(w.encode()) for doc in kept for w in doc]
    offsets = np.concatenate([[0], np.cumsum([len(doc) for doc in kept])])
    return np.array(hashes, dtype=np.uint64), offsets


def test_word_hashes_equal_the_arrow_regex_split_on_real_text():
    texts = [r["text"][:4000] for name in ("udhr", "manpages", "abstracts") for r in
             corpus_records(name, 300)]  # fmt: skip
    texts += ["İSTANBUL \u212aelvin", "x" * 300 + " Y" * 3, "", None, "¡¿ — …", "a_b 3.5"]
    for array in (pa.array(texts), pa.array(texts, pa.large_string()).slice(7, 500)):
        hashes, offsets = word_hashes(array)
        want_hashes, want_offsets = _reference_words(array)
        assert np.array_equal(offsets, want_offsets)
        assert np.array_equal(hashes, want_hashes)
    assert len(hashes) > 100_000


def test_shingles_of_short_and_long_documents():
    hashes, offsets = word_hashes(pa.array(["one two three", "", "a b c d e f g"]))
    shingles = shingles_of_words(hashes, offsets, 5)
    assert np.diff(shingles.offsets).tolist() == [1, 0, 3]  # a short document: one shingle
    again = shingles_of_words(*word_hashes(pa.array(["zzz a b c d e f g"])), 5)
    assert set(again.hashes.tolist()) > set(shingles.of(2).tolist())
