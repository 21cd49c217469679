"""tokenize (a BPE trained on the data, or a tokenizer.json) and pack (concat, best-fit,
buckets) on real abstracts and man pages: every token of every document lands in exactly
one sequence, and best-fit truncates fewer documents than concatenate-and-chunk."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import winnow
from tests.conftest import corpus_records, read_output, write_jsonl
from winnow.stages.base import RunContext, TableShard


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


class _StreamedShard:
    """A shard that streams its ``text`` a record batch at a time, notes each batch read,
    and refuses to be loaded whole."""

    def __init__(self, name: int, texts: list, batch: int, reads: list) -> None:
        self.name, self.texts, self.batch, self.reads = name, texts, batch, reads

    @property
    def rows(self) -> int:
        return len(self.texts)

    @property
    def schema(self):
        return pa.schema([("text", pa.string())])

    def __call__(self, columns):
        raise AssertionError("the whole shard was loaded")

    def batches(self, columns):
        assert list(columns) == ["text"]
        for start in range(0, len(self.texts), self.batch):
            self.reads.append((self.name, start))
            yield pa.record_batch([pa.array(self.texts[start : start + self.batch], pa.string())],
                                  names=["text"])  # fmt: skip


def test_bpe_training_streams_the_shards_batch_by_batch(monkeypatch):
    from winnow.stages import tokenize

    texts = [r["text"][:2000] for r in corpus_records("abstracts", 300)]
    texts[7] = None  # a document without text trains as ""
    reads: list = []
    shards = [_StreamedShard(s, texts[s * 100 : (s + 1) * 100], 16, reads) for s in range(3)]
    sizes = [s.rows for s in shards]
    chosen = tokenize._sample_rows(sizes, 50)
    assert len(chosen) == 50 and chosen[0] == 0 and chosen[-1] == 299
    stream = tokenize._sample_texts(shards, chosen, sizes)
    assert iter(stream) is stream  # an iterator, not a list
    first = next(stream)
    assert reads == [(0, 0)]  # one batch read so far
    rest = list(stream)
    assert [first, *rest] == [texts[i] or "" for i in chosen]
    last = {int(r) // 100: int(r) % 100 for r in chosen}  # each shard's last chosen row
    needed = [(s, b) for s, row in last.items() for b in range(0, row + 1, 16)]
    assert reads == needed  # each batch once, in order, none past a shard's last chosen row

    fed = {}
    real = tokenize.train_bpe

    def spy(stream, vocab_size, eos, length=None):
        fed["stream"], fed["length"] = stream, length
        return real(stream, vocab_size, eos, length=length)

    monkeypatch.setattr(tokenize, "train_bpe", spy)
    reads.clear()
    stage = winnow.make_stage("tokenize", train_vocab=300, train_docs=50)
    (state, *_) = stage.reduce(shards, RunContext())
    assert not isinstance(fed["stream"], (list, tuple)) and iter(fed["stream"]) is fed["stream"]
    assert fed["length"] == 50 and reads == needed
    streamed = state.schema.metadata[tokenize._KEY].decode()
    assert streamed == real(iter([texts[i] or "" for i in chosen]), 300, [tokenize.EOT])


@pytest.mark.parametrize(
    "params",
    [{"train_vocab": 500}, {"train_vocab": 500, "chat_template": "chatml"}, "given"],
    ids=["trained", "trained+chatml", "given"],
)
def test_encoding_runs_on_the_workers_not_the_driver(runs, tmp_path, monkeypatch, params):
    """Whether trained, given or templated, the driver encodes no document: every batch is
    tokenized in the shard tasks of the worker processes."""
    from tokenizers import Tokenizer

    from winnow.stages.tokenize import Tokenize

    folder, data, outputs = runs
    if params == "given":
        saved = next((outputs["concat"] / "artifacts").glob("*-tokenize/tokenizer.json"))
        params = {"tokenizer": str(saved)}
    in_driver = []
    apply = Tokenize.apply

    def spy(self, batch, offset, decisions):
        if batch.num_rows:
            in_driver.append(batch.num_rows)
        return apply(self, batch, offset, decisions)

    monkeypatch.setattr(Tokenize, "apply", spy)
    out = tmp_path / "out"
    recipe = {"inputs": [str(data)], "output": str(out), "stages": [{"tokenize": params}],
              "read": {"shard_mb": 0.25, "batch_docs": 50}}  # fmt: skip
    result = winnow.run(recipe, workers=2)
    assert in_driver == []
    docs = read_output(out)
    assert len(docs) == 600
    saved = params.get("tokenizer") or next((out / "artifacts").glob("*-tokenize/tokenizer.json"))
    tokenizer = Tokenizer.from_file(str(saved))
    eot = tokenizer.token_to_id("<|endoftext|>")
    for d in docs:
        assert d["tokens"] == tokenizer.encode(d["text"], add_special_tokens=False).ids + [eot]
        assert d["n_tokens"] == len(d["tokens"])
        if "chat_template" in params:
            assert d["loss_mask"] == [True] * len(d["tokens"])  # plain rows: all trained
    assert ("reduce tokenize" in result.stats["phase_seconds"]) == ("tokenizer" not in params)


def test_token_columns_match_the_tokenizer_on_edge_rows(tmp_path):
    """Null and empty texts, a batch of none, with and without the end-of-text token: the
    columns are exactly the tokenizer's own ids, in large_list<uint32>."""
    from tokenizers import Tokenizer

    from winnow.chat.template import CHATML_TOKENS
    from winnow.stages.tokenize import EOT, train_bpe

    texts = [r["text"][:800] for r in corpus_records("manpages", 60)]
    blob = train_bpe(iter(texts), 400, [EOT, *CHATML_TOKENS])
    tokenizer = Tokenizer.from_str(blob)
    rows = [texts[0], None, "", "naïve café — 東京 🙂", texts[1], ""]
    batch = pa.record_batch([pa.array([f"r{i}" for i in range(len(rows))]), pa.array(rows)],
                            names=["id", "text"])  # fmt: skip
    path = tmp_path / "tokenizer.json"
    path.write_text(blob, encoding="utf-8")
    for params in ({}, {"add_eos": False}, {"chat_template": "chatml"}):
        stage = winnow.make_stage("tokenize", tokenizer=str(path), **params)
        if "chat_template" in params:
            (state, *_) = stage.reduce([TableShard(pa.Table.from_batches([batch]))],
                                       RunContext())  # fmt: skip
            result = stage.apply(batch, 0, state).batch
            empty = stage.apply(batch.slice(0, 0), 0, state).batch
        else:
            result = stage.process(batch).batch
            empty = stage.process(batch.slice(0, 0)).batch
        tail = [] if params.get("add_eos") is False else [tokenizer.token_to_id(EOT)]
        want = [tokenizer.encode(t or "", add_special_tokens=False).ids + tail for t in rows]
        assert result.column("tokens").to_pylist() == want
        assert result.schema.field("tokens").type == pa.large_list(pa.uint32())
        assert result.column("n_tokens").to_pylist() == [len(w) for w in want]
        assert result.schema.field("n_tokens").type == pa.int64()
        assert empty.schema == result.schema and empty.num_rows == 0
        if "chat_template" in params:
            assert result.column("loss_mask").to_pylist() == [[True] * len(w) for w in want]
