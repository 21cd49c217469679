"""export: the documents' tokens written for trainers and read back by the trainers' own
readers (Megatron-LM's IndexedDataset, Hugging Face ``load_from_disk``, MosaicML streaming's
StreamingDataset): every document, its tokens exactly, in output order.

``mosaicml-streaming`` cannot live beside winnow's pins, so the MDS tests run
tests/streaming_check.py with the Python of a venv of its own: ``$WINNOW_STREAMING_PYTHON``,
else ``.venv-streaming/bin/python`` in the repository, which ``tests/streaming_venv.sh``
builds (``.ci/run`` does); without one they fail, saying how to build it."""

from __future__ import annotations

import json
import os
import subprocess
import warnings
from pathlib import Path

import numpy as np
import pytest

import winnow
from tests.chat_records import ChatCorpus
from tests.conftest import corpus_records, read_output, write_jsonl


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    folder = tmp_path_factory.mktemp("export")
    records = [{"id": r["id"], "text": r["text"][:4000]} for r in corpus_records("manpages", 300)]
    records += corpus_records("abstracts", 200)
    src = write_jsonl(folder / "in.jsonl", records)
    outs = {}
    for fmt in ("megatron", "hf", "mds"):
        out = folder / fmt
        stages = [{"tokenize": {"train_vocab": 3000}}, {"export": {"format": fmt}}]
        winnow.run({"inputs": [str(src)], "output": str(out), "stages": stages,
                    "read": {"shard_mb": 0.3}}, workers=2)  # fmt: skip
        outs[fmt] = out
    return outs


def test_megatron_indexed_dataset_reads_back_with_megatron_core(exported):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from megatron.core.datasets.indexed_dataset import IndexedDataset
    docs = read_output(exported["megatron"])
    prefix = next((exported["megatron"] / "artifacts").glob("*-export")) / "data"
    dataset = IndexedDataset(str(prefix))
    assert len(dataset) == len(docs) and len(dataset.document_indices) == len(docs) + 1
    assert dataset.index.dtype == np.uint16  # a 3,000-id vocabulary
    for i, doc in enumerate(docs):
        assert dataset[i].tolist() == doc["tokens"]
    trained = next((exported["megatron"] / "artifacts").glob("*-tokenize/tokenizer.json"))
    assert (prefix.parent / "tokenizer.json").read_bytes() == trained.read_bytes()  # beside it


def test_hugging_face_dataset_loads_from_disk(exported):
    from datasets import load_from_disk

    docs = read_output(exported["hf"])
    dataset = load_from_disk(str(next((exported["hf"] / "artifacts").glob("*-export"))))
    assert dataset["id"] == [d["id"] for d in docs]
    assert dataset["input_ids"] == [d["tokens"] for d in docs]


def test_chat_records_carry_their_loss_mask(tmp_path):
    from datasets import load_from_disk

    chat = write_jsonl(tmp_path / "chat.jsonl", ChatCorpus().records)
    stages = [{"tokenize": {"train_vocab": 500, "chat_template": "chatml"}},
              {"export": {"format": "hf"}}]  # fmt: skip
    out = tmp_path / "out"
    winnow.run({"inputs": [str(chat)], "output": str(out), "stages": stages}, workers=1)
    docs = {d["id"]: d for d in read_output(out)}
    dataset = load_from_disk(str(next((out / "artifacts").glob("*-export"))))
    for row in dataset:
        assert row["loss_mask"] == docs[row["id"]]["loss_mask"]
    assert any(not all(r) for r in dataset["loss_mask"])  # prompts are not trained


STREAMING_PYTHON = Path(
    os.environ.get("WINNOW_STREAMING_PYTHON")
    or Path(__file__).parents[1] / ".venv-streaming" / "bin" / "python"
)


def _export_folder(out):
    return next((out / "artifacts").glob("*-export"))


@pytest.fixture(scope="module")
def streamed(exported, tmp_path_factory):
    """What streaming reads (and rewrites) of three MDS folders, in one process: the run's
    export, a chat run's export (with loss_mask) and a writer's own multi-shard folder."""
    if not STREAMING_PYTHON.is_file():
        pytest.fail(f"no Python with mosaicml-streaming at {STREAMING_PYTHON}: build its venv "
                    "with 'bash tests/streaming_venv.sh' (or set WINNOW_STREAMING_PYTHON)")
    from winnow.io.mds import MDSWriter, encode_ndarray

    folder = tmp_path_factory.mktemp("mds")
    chat = write_jsonl(folder / "chat.jsonl", ChatCorpus().records)
    stages = [{"tokenize": {"train_vocab": 500, "chat_template": "chatml"}},
              {"export": {"format": "mds"}}]  # fmt: skip
    winnow.run({"inputs": [str(chat)], "output": str(folder / "chat"), "stages": stages},
               workers=1)  # fmt: skip
    # small shards, an int32 column and arrays whose shapes need uint8, uint16 and uint32
    rng = np.random.default_rng(0)
    lengths = [1, 255, 256, 3000, 65535, 65536, 70000, 2, 1]
    samples = [(f"doc-{i}-é", rng.integers(0, 1 << 20, n).astype(np.int32),
                rng.integers(0, 2, n).astype(np.uint8)) for i, n in enumerate(lengths)]  # fmt: skip
    columns = {"id": "str", "input_ids": "ndarray:int32", "loss_mask": "ndarray:uint8"}
    writer = MDSWriter(folder / "small", columns, size_limit=20_000)
    for doc, ids, mask in samples:
        writer.add([doc.encode("utf-8"), encode_ndarray(ids), encode_ndarray(mask)])
    assert writer.close()["shards"] > 3
    folders = {"export": _export_folder(exported["mds"]), "chat": _export_folder(folder / "chat"),
               "small": folder / "small"}  # fmt: skip
    proc = subprocess.run(
        [str(STREAMING_PYTHON), str(Path(__file__).with_name("streaming_check.py")),
         *map(str, folders.values())],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    read = json.loads(proc.stdout.strip().splitlines()[-1])
    result = {name: read[str(path)] for name, path in folders.items()}
    result["chat_out"], result["small_samples"] = folder / "chat", samples
    return result


def test_mds_reads_back_with_streaming(exported, streamed):
    docs = read_output(exported["mds"])
    got = streamed["export"]
    assert got["encodings"] == {"id": "str", "input_ids": "ndarray:uint16"}  # 3,000 ids
    assert [s["id"] for s in got["samples"]] == [d["id"] for d in docs]
    assert [s["input_ids"] for s in got["samples"]] == [d["tokens"] for d in docs]
    assert {s["input_ids_dtype"] for s in got["samples"]} == {"uint16"}
    assert got["same"], "streaming.MDSWriter writes other bytes"
    trained = next((exported["mds"] / "artifacts").glob("*-tokenize/tokenizer.json"))
    copied = _export_folder(exported["mds"]) / "tokenizer.json"
    assert copied.read_bytes() == trained.read_bytes()


def test_mds_chat_records_carry_their_loss_mask(streamed):
    docs = read_output(streamed["chat_out"])
    got = streamed["chat"]
    assert got["encodings"]["loss_mask"] == "ndarray:uint8" and got["same"]
    assert [s["id"] for s in got["samples"]] == [d["id"] for d in docs]
    assert [s["input_ids"] for s in got["samples"]] == [d["tokens"] for d in docs]
    assert [s["loss_mask"] for s in got["samples"]] == [
        [int(b) for b in d["loss_mask"]] for d in docs
    ]
    assert any(not all(s["loss_mask"]) for s in got["samples"])  # prompts are not trained


def test_mds_writer_matches_streaming_byte_for_byte(streamed):
    got = streamed["small"]
    assert got["same"] and len(got["files"]) > 4  # index.json and several shards
    for sample, (doc, ids, mask) in zip(got["samples"], streamed["small_samples"], strict=True):
        assert sample["id"] == doc and sample["input_ids_dtype"] == "int32"
        assert sample["input_ids"] == ids.tolist() and sample["loss_mask"] == mask.tolist()
