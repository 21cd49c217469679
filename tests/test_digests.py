"""What the engine writes, pinned: digests of ``data/`` and of the ledger's rows for a recipe
per stage family on the shared corpora. A change to the engine or a stage that alters them
must say so (update the digest and name the difference in the closing note).

The ledger is compared by its rows (sorted), not its Parquet bytes, which carry the writer's
version. Data rows are compared with their floats to 6 significant digits: scores summed by
vectorised or BLAS kernels differ in their last bits from one CPU to another (this digest's
selection family did between two machines, with the same ledger)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import orjson
import pytest

import winnow
from tests.chat_records import ChatCorpus
from tests.conftest import corpus_records, read_ledger, write_jsonl

FAMILIES = {
    "heuristic": [
        {"normalize": {}},
        {"line_clean": {}},
        {"length_filter": {"min_words": 20}},
        {"langid": {"languages": ["en"]}},
        {"gopher_quality": {}},
        {"gopher_repetition": {}},
        {"c4_quality": {}},
        {"fineweb_quality": {}},
        {"pii": {}},
        {"toxicity": {}},
    ],
    "dedup": [
        {"exact_dedup": {}},
        {"minhash_dedup": {}},
        {"line_dedup": {}},
        {"paragraph_dedup": {}},
        {"substring_dedup": {}},
        {"semantic_dedup": {"backend": "tfidf"}},
    ],
    "selection": [
        {"dsir": {"target": "TARGET", "keep_fraction": 0.8}},
        {"quality_classifier": {"positives": "TARGET", "keep_fraction": 0.8}},
        {"perplexity": {"target": "TARGET", "keep_fraction": 0.8}},
        {"sample": {"keep_fraction": 0.9}},
    ],
    "tokens": [
        {"tokenize": {"train_vocab": 2000}},
        {"pack": {"seq_len": 512}},
        {"mix": {}},
    ],
}
DIGESTS = {
    "chat": (
        "3335faf0fc6abdada7bd2fc3467326b361c2fa5f143b9eb70ad1751c52cd3415",
        "b6ce0eba98ea8271b38e3e256e5bfe6248317181acf7ab5d1ef7c08777658450",
    ),
    "dedup": (
        "14e5d81959e0e44e21593deff76d8b5358a9f6e6b5e8db59bbba80a399cba2ad",
        "e46bc3a6d178bd4679f1c882b7bd2deed480118ac746c55dfc19f96035bcc6be",
    ),
    "heuristic": (
        "490944b9cdc3d66c6af4712f19cdc08af10a2fe5c98c4719a241a80dcd7426bf",
        "e9c6f76bffc677d5fa1bdb1cff604e51568624f385ab5b1fbb19ce2656444612",
    ),
    "selection": (  # DSIR splits words as NLTK's `regex` WordPunct does (issue 20)
        "c9edff2d5c44f0468e79ce8b6ee7219ba9f1cf2b89696be890d140013785b16b",
        "168031755b37a2800fb6a20e5641ad23e269779077d0e5ca2ff875b13d1b67ed",
    ),
    "tokens": (
        "2ad9c43d375d17be04136334aef065c9eebba11eb53cafacc41e67e0660d52b1",
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    ),
}


def _rounded(value):
    if isinstance(value, float):
        return float(f"{value:.6g}")
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return value


def digests(out: Path) -> tuple[str, str]:
    """sha256 of the data parts' rows in order (floats rounded), and of the sorted ledger
    rows."""
    data = hashlib.sha256()
    for part in sorted((out / "data").iterdir()):
        for line in part.read_bytes().splitlines():
            data.update(orjson.dumps(_rounded(orjson.loads(line))) + b"\n")
    rows = sorted(repr(sorted(r.items())) for r in read_ledger(out))
    return data.hexdigest(), hashlib.sha256("\n".join(rows).encode()).hexdigest()


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("families")
    docs = (
        corpus_records("manpages", 600)
        + corpus_records("abstracts", 500)
        + corpus_records("udhr", 80)
        + corpus_records("copyright", 300)
    )
    chat = ChatCorpus()
    return {
        "docs": write_jsonl(folder / "docs.jsonl", docs),
        "target": write_jsonl(folder / "target.jsonl", corpus_records("abstracts", 900)[600:]),
        "chat": chat.write(folder / "chat")["records"],
    }


@pytest.mark.parametrize("family", sorted(DIGESTS))
def test_a_recipe_per_stage_family_writes_what_it_wrote(tmp_path, inputs, family, monkeypatch):
    monkeypatch.chdir(inputs["docs"].parent)  # relative inputs: ``source`` is the same anywhere
    if family == "chat":
        stages = [{"normalize": {}}, {"pii": {}}, {"line_clean": {}}, {"chat_quality": {}},
                  {"paragraph_dedup": {}}, {"exact_dedup": {"view": "prompt"}}]  # fmt: skip
        source = inputs["chat"].relative_to(inputs["docs"].parent)
    else:
        stages = [
            {n: {k: inputs["target"].name if v == "TARGET" else v for k, v in p.items()}}
            for entry in FAMILIES[family]
            for n, p in entry.items()
        ]
        source = inputs["docs"].name
    recipe = {
        "inputs": [str(source)],
        "output": str(tmp_path / "out"),
        "stages": stages,
        "write": {"format": "jsonl", "shard_docs": 400},
        "read": {"shard_mb": 0.5},
    }
    winnow.run(recipe, workers=2)
    assert digests(tmp_path / "out") == DIGESTS[family]
