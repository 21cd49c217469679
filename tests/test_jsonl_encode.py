"""The compiled JSON Lines encoder against orjson on the same rows."""

from __future__ import annotations

import math

import orjson
import pyarrow as pa

from tests.conftest import corpus_records
from winnow.io.jsonl import row_lines
from winnow.io.jsonl_encode import encode_lines


def test_real_text_of_every_corpus_encodes_as_orjson_writes_it():
    texts = [r["text"] for name in ("udhr", "manpages", "abstracts", "copyright")
             for r in corpus_records(name, 400)]  # fmt: skip
    texts += ["".join(map(chr, range(0x20))) + '"\\/\x7f\u2028é😀', "", "tab\there\r\n"]
    n = len(texts)
    batch = pa.RecordBatch.from_pydict({
        "id": [f"d{i}" for i in range(n)],
        "text": pa.array(texts, pa.large_string()),
        "source": [None if i % 7 == 0 else f"file.jsonl:{i}" for i in range(n)],
        "meta": [orjson.dumps({"i": i, "tags": ["a", "é"]}).decode() for i in range(n)],
    })  # fmt: skip
    encoded = encode_lines(batch).tobytes()
    assert encoded == row_lines(batch)
    assert [orjson.loads(line)["text"] for line in encoded.splitlines()] == texts


def test_other_types_and_nulls_encode_as_orjson_writes_them():
    batch = pa.RecordBatch.from_pydict({
        "id": ["a", "b", "c", None],
        "score": [0.1, float("nan"), 1e-7, None],
        "count": pa.array([1, None, -3, 2**40], pa.int64()),
        "keep": [True, False, None, True],
        "tokens": [[1, 2], [], None, [3]],
        "lang": pa.array(["en", None, "fr", None], pa.string()),
    })  # fmt: skip
    encoded = encode_lines(batch).tobytes()
    assert encoded == row_lines(batch)
    assert encoded.splitlines()[3] == b'{"count":1099511627776,"keep":true,"tokens":[3]}'
    assert math.isnan(batch.column("score")[1].as_py())  # written as null, as orjson does
    assert orjson.loads(encoded.splitlines()[1])["score"] is None


def test_a_batch_with_a_null_meta_is_left_to_the_row_writer():
    batch = pa.RecordBatch.from_pydict({"id": ["a"], "meta": pa.array([None], pa.string())})
    assert encode_lines(batch) is None
    empty = pa.RecordBatch.from_pydict({"id": pa.array([], pa.string())})
    assert encode_lines(empty).tobytes() == row_lines(empty) == b""
