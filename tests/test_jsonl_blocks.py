"""The JSON Lines block reader (Arrow's JSON parser, a block of plain records at a time)
gives exactly what reading record by record gives: the same documents in the same batches,
the same ledger rows, on real text mixed with every kind of line the block path must refuse,
plain, compressed and truncated."""

from __future__ import annotations

import gzip
import random

import orjson
import pytest
import zstandard

from tests.conftest import corpus_records
from winnow.io import jsonl, read
from winnow.io.inputs import expand, split
from winnow.io.read import read_shard


def _mixed_lines(seed: int) -> list[bytes]:
    rng = random.Random(seed)
    texts = [r["text"] for name in ("abstracts", "udhr") for r in corpus_records(name, 400)]
    odd = [
        b"", b"   ", b'{"id": "cut", "text": ', b'{"id":"u","text":"\xff\xfe"}',
        b'{"id":"s","text":"\\ud800 lone"}', b'{"id":"p","text":"a\\u0000b \\ud83d\\ude00"}',
        b"[1, 2]", b'{"id": "n", "text": null}', b'{"id": "five", "text": 5}',
        orjson.dumps({"id": 7, "text": "an integer id"}), orjson.dumps({"id": "", "text": "e"}),
        orjson.dumps({"id": True, "text": "a boolean id"}), orjson.dumps({"text": "no id"}),
        orjson.dumps({"id": "m", "text": "meta", "url": "https://example.org"}),
        orjson.dumps({"id": "a", "text": "x"}) + orjson.dumps({"id": "b", "text": "y"}),
        orjson.dumps({"id": "cr", "text": "carriage"}) + b"\r",
        b'{"id": "d", "id": "e", "text": "t"}',
        orjson.dumps({"messages": [{"role": "user", "content": "hi"}], "id": "chat"}),
    ]  # fmt: skip
    lines = []
    for i, text in enumerate(texts * 3):
        lines.append(orjson.dumps({"id": f"d{i}", "text": text}))
        if rng.random() < 0.02:
            lines.append(rng.choice(odd))
    return lines


def _read(files, batch_docs, batch_bytes):
    out = []
    for batch, invalid in read_shard(files, batch_docs, batch_bytes):
        out.append((None if batch is None else batch.to_pylist(), invalid.table().to_pylist()))
    return out


@pytest.mark.parametrize("limits", [(2048, 32 << 20), (100, 20_000), (7, 10**9)])
def test_blocks_read_as_records_do(tmp_path, monkeypatch, limits):
    clean = [orjson.dumps({"id": i, "text": r["text"]}) for i, r in
             enumerate(corpus_records("abstracts"))]  # fmt: skip
    mixed = b"\n".join(_mixed_lines(0)) + b"\n"
    (tmp_path / "mixed.jsonl").write_bytes(mixed)
    (tmp_path / "clean.jsonl").write_bytes(b"\n".join(clean))  # no newline at the end
    (tmp_path / "mixed.jsonl.gz").write_bytes(gzip.compress(mixed))
    (tmp_path / "clean.jsonl.zst").write_bytes(zstandard.compress(b"\n".join(clean)))
    packed = gzip.compress(b"\n".join(clean) + b"\n")
    (tmp_path / "cut.jsonl.gz").write_bytes(packed[: len(packed) * 2 // 3])  # truncated
    with_meta = orjson.dumps({"id": "first", "text": "metadata first", "meta": {"a": 1}})
    packed = gzip.compress(with_meta + b"\n" + mixed)  # read record by record from the start
    (tmp_path / "meta.jsonl.gz").write_bytes(packed)
    (tmp_path / "metacut.jsonl.gz").write_bytes(packed[: len(packed) // 2])
    monkeypatch.setattr(jsonl, "BLOCK_BYTES", 50_000)  # many blocks, some of them clean
    names = ("mixed.jsonl", "clean.jsonl", "mixed.jsonl.gz", "clean.jsonl.zst", "cut.jsonl.gz",
             "meta.jsonl.gz", "metacut.jsonl.gz")  # fmt: skip
    paths = [str(tmp_path / name) for name in names]
    files = [piece for path in paths for f in expand(path) for piece in split(f, 200_000)]
    used = []
    plain_block = jsonl._plain_block
    monkeypatch.setattr(jsonl, "_plain_block", lambda *a: used.append(plain_block(*a)) or used[-1])
    blocks = _read(files, *limits)
    assert sum(b is not None for b in used) >= 15 and sum(b is None for b in used) >= 6
    monkeypatch.setattr(read, "DOCUMENT_READERS", {})  # record by record
    assert blocks == _read(files, *limits)
    docs = [d for batch, _ in blocks for d in batch or []]
    assert {"7", "d0", "first"} <= {d["id"] for d in docs}
    reasons = {r["reason"] for _, ledger in blocks for r in ledger}
    assert {"invalid_input:json", "invalid_input:utf8", "invalid_input:missing_text",
            "invalid_input:truncated_file"} <= reasons  # fmt: skip
