"""perplexity: a Kneser-Ney n-gram model of paper abstracts, its ARPA file, and selection
of abstracts among man pages and licences."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

import winnow
from tests.conftest import corpus_records, selected_two_ways, write_jsonl
from winnow.models.ngram_lm import NgramLM


@pytest.fixture(scope="module")
def pool(tmp_path_factory):
    folder = tmp_path_factory.mktemp("perplexity")
    abstracts = [r["text"] for r in corpus_records("abstracts")]
    others = [r["text"][:1500] for r in corpus_records("manpages", limit=2000)]
    others += [r["text"][:1500] for r in corpus_records("copyright", limit=400)]
    target = write_jsonl(folder / "ref.jsonl", [{"text": t} for t in abstracts[:300]])
    return folder, abstracts[300:] + others, len(abstracts) - 300, target


def test_every_context_is_a_probability_distribution():
    """Interpolated Kneser-Ney sums to 1 over the vocabulary (and </s>, <unk>) after any
    context: seen, unseen, or cut short by the sentence start."""
    lm = NgramLM.train([r["text"] for r in corpus_records("abstracts", 300)], order=4)
    words = np.array([w for w in range(len(lm.vocab)) if w != 1])
    for context in ([], ["we"], ["we", "propose"], ["of", "the", "proposed"], ["zzz", "of"]):
        prefix = [1] + [lm.ids.get(w, 0) for w in context]
        tokens = np.concatenate([prefix + [w] for w in words.tolist()])
        last = lm.token_log10_probs(np.array(tokens)).reshape(len(words), -1)[:, -1]
        assert abs((10**last).sum() - 1) < 1e-9


def test_arpa_round_trip(tmp_path):
    texts = [r["text"] for r in corpus_records("abstracts", 300)]
    lm = NgramLM.train(texts[:200], order=3)
    again = NgramLM.read_arpa(lm.write_arpa(tmp_path / "lm.arpa"))
    header = (tmp_path / "lm.arpa").read_text().split("\n\n")[0].splitlines()
    assert header == ["\\data\\"] + [f"ngram {k + 1}={len(lm.keys[k])}" for k in range(3)]
    ours, theirs = lm.perplexity(texts[200:]), again.perplexity(texts[200:])
    assert np.abs(np.log(ours) - np.log(theirs)).max() < 1e-4  # ARPA keeps 6 decimals


def test_lowest_tenth_is_the_reference_domain_with_ccnet_buckets(pool, tmp_path):
    _, texts, n_target, target = pool
    table = pa.table({"text": texts})
    arpa = tmp_path / "ref.arpa"
    out = winnow.apply_stage(
        "perplexity", table, target=str(target), keep_fraction=0.1, model=str(arpa)
    )
    keep = np.array(out.column("keep").to_pylist())
    is_target = np.arange(len(texts)) < n_target
    assert keep.sum() == round(0.1 * len(texts))
    assert is_target[keep].mean() >= 0.9  # measured 1.0; a random tenth: 0.17
    ppl = out.column("perplexity_score").to_numpy()
    bucket = np.array(out.column("perplexity_bucket").to_pylist())
    assert np.median(ppl[is_target]) * 3 < np.median(ppl[~is_target])
    assert ppl[bucket == "head"].max() <= ppl[bucket == "middle"].min()
    assert ppl[bucket == "middle"].max() <= ppl[bucket == "tail"].min()
    assert abs((bucket == "head").mean() - 1 / 3) < 0.01
    # a later recipe keeps the head bucket with the saved ARPA model
    head = winnow.apply_stage("perplexity", table, model=str(arpa), buckets=["head"])
    assert np.allclose(head.column("perplexity_score").to_numpy(), ppl, rtol=1e-4)
    assert is_target[np.array(head.column("keep").to_pylist())].mean() > 0.4


def test_same_selection_whatever_workers_and_shards(pool, tmp_path):
    _, texts, _, target = pool
    stage = {"perplexity": {"target": str(target), "order": 3, "max_perplexity": 300}}
    kept, outputs = selected_two_ways(tmp_path, texts, stage)
    assert kept[0] == kept[1] and 0 < len(kept[0]) < len(texts)
    for out in outputs:
        assert list((out / "artifacts").glob("*/model.arpa"))


def test_min_score_is_refused_with_the_reason(tmp_path):
    data = str(write_jsonl(tmp_path / "a.jsonl", [{"text": "x"}]))
    with pytest.raises(winnow.RecipeError, match="max_perplexity"):
        winnow.load_recipe(
            {"inputs": [data], "output": str(tmp_path / "o"),
             "stages": [{"perplexity": {"target": data, "min_score": 3}}]}
        )  # fmt: skip
