"""Dedup against a reference corpus: a second run of man pages against the first (its output
folder, its index, or its input file) removes exactly the documents a plain-Python check finds
in the reference, names the reference document and where it is, never writes or removes a
reference document, and does the same with 1 and 2 workers and on Ray."""

from __future__ import annotations

import re
import shutil
from collections import Counter

import orjson
import pytest

import winnow
from tests.conftest import corpus_records, read_ledger, read_output, tree_digest, write_jsonl
from winnow.cli import main
from winnow.engine.errors import RunFailed


def canonical(text: str) -> str:
    return re.sub(r"\s+", " ", text.lower()).strip()


def jaccard(a: str, b: str, n: int = 5) -> float:
    grams = [{tuple(t.split()[i : i + n]) for i in range(len(t.split()) - n + 1)} for t in (a, b)]
    return len(grams[0] & grams[1]) / len(grams[0] | grams[1])


def near_copy(text: str) -> str:
    """The text with one word in a hundred replaced: Jaccard of word 5-grams about 0.9."""
    words = text.split()
    return " ".join("CHANGED" if i % 100 == 7 else w for i, w in enumerate(words))


@pytest.fixture(scope="module")
def corpora(tmp_path_factory):
    folder = tmp_path_factory.mktemp("reference")
    docs = [dict(r, text=r["text"][:3000]) for r in corpus_records("manpages", 2400)]
    for doc in docs:
        doc["meta"] = {"url": f"https://man.example.org/{doc['id']}"}
    first = docs[:1600]
    second = [dict(d, id="new-" + d["id"]) for d in docs[1200:2400]]  # 400 repeat the first
    for i, doc in enumerate(first[:300:3]):  # near copies and URL variants of 100 earlier ones
        second.append({"id": f"near-{i}", "text": near_copy(doc["text"]),
                       "meta": {"url": doc["meta"]["url"].replace("https://", "http://www.")
                                + "/?utm_source=x"}})  # fmt: skip
    return {
        "first": write_jsonl(folder / "first.jsonl", first),
        "second": write_jsonl(folder / "second.jsonl", second),
        "first_docs": first,
        "second_docs": second,
        "folder": folder,
    }


def _run(inputs, out, stage, params, workers=2, **kwargs):
    recipe = {"inputs": [str(inputs)], "output": str(out), "stages": [{stage: params}],
              "read": {"shard_mb": 0.5}}  # fmt: skip
    winnow.run(recipe, workers=workers, **kwargs)
    return read_ledger(out)


def test_exact_dedup_against_an_earlier_run_names_the_reference_documents(corpora, tmp_path):
    earlier = tmp_path / "earlier"
    _run(corpora["first"], earlier, "exact_dedup", {})
    ledger = _run(corpora["second"], tmp_path / "later", "exact_dedup",
                  {"reference": str(earlier)})  # fmt: skip
    kept_before = {canonical(d["text"]): d["id"] for d in read_output(earlier)}
    expected = {d["id"] for d in corpora["second_docs"] if canonical(d["text"]) in kept_before}
    from_reference = {r["id"]: r for r in ledger if r["reference_source"]}
    assert set(from_reference) == expected and len(expected) >= 400
    texts = {d["id"]: d["text"] for d in corpora["second_docs"]}
    for doc_id, row in from_reference.items():
        assert row["duplicate_of"] == kept_before[canonical(texts[doc_id])]
        assert row["reference_source"] == str(earlier) and row["reason"] == "exact_duplicate"
    output = {d["id"] for d in read_output(tmp_path / "later")}
    assert not output & expected and not {i for i in output if not i.startswith(("new-", "near-"))}
    against_file = _run(corpora["second"], tmp_path / "file", "exact_dedup",
                        {"reference": str(corpora["first"])})  # fmt: skip
    assert {r["reference_source"] for r in against_file} == {str(corpora["first"])}


def test_an_index_is_reused_and_a_mismatched_one_refused(corpora, tmp_path):
    earlier = tmp_path / "earlier"
    _run(corpora["first"], earlier, "minhash_dedup", {"index": True})
    index = next(earlier.glob("artifacts/*-minhash_dedup/index"))
    meta = orjson.loads((index / "index.json").read_bytes())
    assert meta["version"] == 1 and meta["documents"] == len(read_output(earlier))
    params = {"reference": str(earlier)}
    from_data = _run(corpora["second"], tmp_path / "a", "minhash_dedup", params)
    for part in (earlier / "data").iterdir():  # the index alone must do
        part.unlink()
    from_index = _run(corpora["second"], tmp_path / "b", "minhash_dedup",
                      {"reference": str(earlier)})  # fmt: skip
    assert from_index == from_data
    assert sum(r["reference_source"] == str(earlier) for r in from_index) >= 450
    with pytest.raises(RunFailed, match="ngram"):
        _run(corpora["second"], tmp_path / "c", "minhash_dedup",
             {"reference": str(earlier), "ngram": 3})  # fmt: skip
    (index / "index.json").write_bytes(orjson.dumps({**meta, "version": 99}))
    with pytest.raises(RunFailed, match="version 99"):
        _run(corpora["second"], tmp_path / "d", "minhash_dedup", {"reference": str(earlier)})


def test_minhash_against_reference_files_finds_near_copies_with_any_executor(corpora, tmp_path):
    params = {"reference": str(corpora["first"])}
    ledger = _run(corpora["second"], tmp_path / "two", "minhash_dedup", params)
    by_id = {r["id"]: r for r in ledger}
    texts = {d["id"]: d["text"] for d in corpora["first_docs"] + corpora["second_docs"]}
    for i in range(100):  # every near copy goes, for a reference document like it
        row = by_id[f"near-{i}"]
        assert row["reference_source"] == str(corpora["first"])
        assert jaccard(texts[f"near-{i}"], texts[row["duplicate_of"]]) >= 0.6  # (by spaces)
    assert sum(r["id"].startswith("new-") and bool(r["reference_source"]) for r in ledger) >= 400
    _run(corpora["second"], tmp_path / "one", "minhash_dedup", params, workers=1)
    assert tree_digest(tmp_path / "one") == tree_digest(tmp_path / "two")
    _run(corpora["second"], tmp_path / "ray", "minhash_dedup", params, executor="ray")
    assert tree_digest(tmp_path / "ray") == tree_digest(tmp_path / "two")


def test_key_dedup_of_url_variants_against_a_reference(corpora, tmp_path):
    params = {"field": "meta.url", "normalize": "url", "reference": str(corpora["first"])}
    ledger = _run(corpora["second"], tmp_path / "out", "key_dedup", params)
    expected = {d["id"] for d in corpora["second_docs"][-100:]} | {
        d["id"] for d in corpora["second_docs"][:400]
    }
    assert {r["id"] for r in ledger if r["reason"] == "key_duplicate"} == expected
    assert Counter(r["reference_source"] for r in ledger) == {str(corpora["first"]): 500}


def test_incremental_runs_dedup_against_every_earlier_run(corpora, tmp_path, capsys):
    """run 2 keeps an index holding run 1's entries too; run 3, against run 2 alone, still
    removes a repeat of a run 1 document, naming run 1."""
    first, second = tmp_path / "first", tmp_path / "second"
    _run(corpora["first"], first, "exact_dedup", {"index": True})
    _run(corpora["second"], second, "exact_dedup", {"index": True, "reference": str(first)})
    third = write_jsonl(tmp_path / "third.jsonl", [
        {"id": "again-old", "text": corpora["first_docs"][5]["text"]},
        {"id": "again-new", "text": corpora["second_docs"][-150]["text"]},
        {"id": "fresh", "text": "A document no earlier run has seen, about nothing at all."},
    ])  # fmt: skip
    shutil.rmtree(first)  # run 2's index carries run 1's entries
    ledger = {r["id"]: r for r in _run(third, tmp_path / "third", "exact_dedup",
                                       {"reference": str(second)})}  # fmt: skip
    assert ledger["again-old"]["reference_source"] == str(first)
    assert ledger["again-old"]["duplicate_of"] == corpora["first_docs"][5]["id"]
    assert ledger["again-new"]["reference_source"] == str(second)
    assert [d["id"] for d in read_output(tmp_path / "third")] == ["fresh"]
    assert main(["explain", str(tmp_path / "third"), "again-old"]) == 0
    assert f"in the reference {first}" in capsys.readouterr().out
    html = (tmp_path / "third" / "report.html").read_text()
    assert "duplicates of a reference corpus" in html and str(second) in html
