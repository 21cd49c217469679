"""export: the documents' tokens written for trainers and read back by the trainers' own
readers (Megatron-LM's IndexedDataset, Hugging Face ``load_from_disk``): every document,
its tokens exactly, in output order."""

from __future__ import annotations

import warnings

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
    for fmt in ("megatron", "hf"):
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
