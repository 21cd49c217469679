"""winnow.sorting's argsort and unique equal numpy's on hashes of real text, on document
numbers, and on values built to tie in their top bits."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from tests.conftest import corpus_records
from winnow.sorting import stable_argsort, unique_inverse
from winnow.stages.dedup.shingles import word_hashes


def _cases() -> dict[str, np.ndarray]:
    texts = [r["text"] for r in corpus_records("abstracts")]
    words, _ = word_hashes(pa.array(texts))  # 64-bit hashes, many repeated (common words)
    rng = np.random.default_rng(7)
    tied = np.uint64(1 << 63) | (rng.integers(0, 40, 50_000, dtype=np.uint64) << np.uint64(30))
    tied |= rng.integers(0, 4, 50_000, dtype=np.uint64)  # top bits tie, low bits differ
    return {
        "word hashes": words,
        "document numbers": rng.integers(0, 300_000, 400_000),
        "tied top bits": tied,
        "one value": np.array([3], np.int64),
        "none": np.zeros(0, np.int64),
    }


@pytest.mark.parametrize("name", list(_cases()))
def test_equal_to_numpy(name):
    values = _cases()[name]
    assert np.array_equal(stable_argsort(values), np.argsort(values, kind="stable"))
    unique, inverse = unique_inverse(values)
    expected, expected_inverse = np.unique(values, return_inverse=True)
    assert unique.dtype == expected.dtype
    assert np.array_equal(unique, expected)
    assert np.array_equal(inverse, expected_inverse.ravel())
