"""tokenize (a BPE trained on the data, or a tokenizer.json) and pack (concat, best-fit,
buckets) on real abstracts and man pages: every token of every document lands in exactly
one sequence, and best-fit truncates fewer documents than concatenate-and-chunk."""

from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
import pytest

import winnow
from tests.conftest import corpus_records, read_output, write_jsonl


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pack")
    records = [{"id": r["id"], "text": r["text"][:5000]} for r in corpus_records("abstracts", 300)]
    records += [{"id": r["id"], "text": r["text"][:5000]} for r in corpus_records("manpages", 300)]
    data = write_jsonl(folder / "in.jsonl", records)
    outputs = {}
    for strategy in ("concat", "best_fit", "buckets"):
        out = folder / strategy
        stages = [
            {"tokenize": {"train_vocab": 2000}},
            {"pack": {"seq_len": 512, "strategy": strategy}},
        ]
        winnow.run({"inputs": [str(data)], "output": str(out), "stages": stages}, workers=2)
        outputs[strategy] = out
    return folder, data, outputs


def _packed(out):
    folder = next((out / "artifacts").glob("*-pack"))
    index = json.loads((folder / "index.json").read_text())
    arrays = {
        int(w): np.memmap(folder / f"tokens-{w}.bin", dtype=index["dtype"], mode="r").reshape(
            n, int(w)
        )
        for w, n in index["sequences"].items()
    }
    return index, arrays, pq.read_table(folder / "pieces.parquet").to_pylist()


@pytest.mark.parametrize("strategy", ["concat", "best_fit", "buckets"])
def test_every_token_is_in_exactly_one_sequence(runs, strategy):
    _, _, outputs = runs
    documents = {d["id"]: d["tokens"] for d in read_output(outputs[strategy])}
    index, arrays, pieces = _packed(outputs[strategy])
    rebuilt = {doc: [] for doc in documents}
    used = {w: np.zeros(a.shape, dtype=np.int64) for w, a in arrays.items()}
    for piece in sorted(pieces, key=lambda x: (x["id"], x["start"])):
        row, at, n = piece["sequence"], piece["offset"], piece["length"]
        rebuilt[piece["id"]] += arrays[piece["width"]][row, at : at + n].tolist()
        used[piece["width"]][row, at : at + n] += 1
    assert rebuilt == documents  # every token, in order, once
    assert all(u.max() <= 1 for u in used.values())  # no slot holds two tokens
    assert index["tokens"] == sum(map(len, documents.values()))
    padding = sum(int((u == 0).sum()) for u in used.values())
    assert abs(index["padding_fraction"] - padding / sum(u.size for u in used.values())) < 1e-5


def test_best_fit_truncates_fewer_documents_than_concat(runs):
    _, _, outputs = runs
    concat, best = _packed(outputs["concat"])[0], _packed(outputs["best_fit"])[0]
    long_docs = sum(1 for d in read_output(outputs["best_fit"]) if d["n_tokens"] > 512)
    assert best["documents_truncated"] == long_docs  # only documents longer than seq_len
    assert best["documents_truncated"] < concat["documents_truncated"]
    assert (
        best["padding_fraction"] < 0.1 and _packed(outputs["buckets"])[0]["padding_fraction"] == 0
    )


def test_trained_tokenizer_is_reproducible_and_reusable(runs, tmp_path):
    folder, data, outputs = runs
    saved = next((outputs["concat"] / "artifacts").glob("*-tokenize/tokenizer.json"))
    again = next((outputs["best_fit"] / "artifacts").glob("*-tokenize/tokenizer.json"))
    assert saved.read_bytes() == again.read_bytes()  # same data, same tokenizer
    out = tmp_path / "reuse"
    stages = [{"tokenize": {"tokenizer": str(saved)}}]
    result = winnow.run({"inputs": [str(data)], "output": str(out), "stages": stages}, workers=1)
    assert "reduce tokenize" not in result.stats["phase_seconds"]  # per-batch: no barrier
    first = {d["id"]: d["tokens"] for d in read_output(outputs["concat"])}
    assert {d["id"]: d["tokens"] for d in read_output(out)} == first
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(saved))
    sample = read_output(out)[0]
    assert tokenizer.decode(sample["tokens"][:-1]) == sample["text"]  # byte-level: lossless


def test_tokens_can_stay_out_of_the_data_once_packed(tmp_path):
    src = write_jsonl(tmp_path / "in.jsonl", corpus_records("abstracts", 200))
    recipe = {
        "inputs": [str(src)],
        "output": str(tmp_path / "out"),
        "stages": [{"tokenize": {"train_vocab": 500}}, {"pack": {"seq_len": 256}}],
        "write": {"format": "jsonl", "drop_columns": ["tokens"]},
    }
    winnow.run(recipe, workers=1)
    docs = read_output(tmp_path / "out")
    assert len(docs) == 200 and all("tokens" not in d and d["n_tokens"] > 0 for d in docs)
    index = json.loads(next((tmp_path / "out" / "artifacts").glob("*-pack/index.json")).read_text())
    assert index["tokens"] == sum(d["n_tokens"] for d in docs)
