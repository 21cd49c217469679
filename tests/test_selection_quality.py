"""Every target-aware selector on one mixed pool: paper abstracts (the target domain)
among man pages, licences and generated distractors (abstracts with their words shuffled:
the target's vocabulary without its language). Each must put clearly more target-domain
documents in its top 10% than a random 10% holds."""

from __future__ import annotations

import random

import numpy as np
import pyarrow as pa
import pytest

import winnow
from tests.conftest import corpus_records, selected_two_ways, write_jsonl
from winnow.stages.select.correlation import predictive_strength, spearman


@pytest.fixture(scope="module")
def pool(tmp_path_factory):
    folder = tmp_path_factory.mktemp("selection")
    abstracts = [r["text"] for r in corpus_records("abstracts")]
    rng = random.Random(0)
    shuffled = []
    for text in abstracts[:150]:
        words = text.split()
        rng.shuffle(words)
        shuffled.append(" ".join(words))
    others = [r["text"][:1500] for r in corpus_records("manpages", limit=1200)]
    others += [r["text"][:1500] for r in corpus_records("copyright", limit=300)]
    texts = abstracts[300:] + shuffled + others
    is_target = np.arange(len(texts)) < len(abstracts) - 300
    target = write_jsonl(folder / "target.jsonl", [{"text": t} for t in abstracts[:300]])
    return pa.table({"text": texts}), is_target, str(target)


SELECTORS = {
    "dsir": ({"target": True}, 0.85),  # measured 0.911
    "embedding_similarity": ({"target": True}, 0.68),  # 0.728
    "quality_classifier": ({"positives": True}, 0.68),  # 0.723
    "perplexity": ({"target": True}, 0.95),  # 1.0
    "perplexity_correlation": ({"target": True, "proxy_docs": 400}, 0.7),  # 0.789
    "preselect": ({"target": True, "proxy_docs": 400}, 0.68),  # 0.728
}  # precision floors; a random tenth holds 0.225. The bag-of-words scorers (embedding,
# fastText) take some shuffled abstracts; the n-gram models do not.


@pytest.mark.parametrize("name", sorted(SELECTORS))
def test_top_tenth_is_mostly_the_target_domain(pool, name):
    table, is_target, target = pool
    params, floor = SELECTORS[name]
    params = {k: (target if v is True else v) for k, v in params.items()}
    out = winnow.apply_stage(name, table, keep_fraction=0.1, seed=1, **params)
    keep = np.array(out.column("keep").to_pylist())
    assert keep.sum() == round(0.1 * table.num_rows)
    precision = is_target[keep].mean()
    print(f"{name}: precision {precision:.3f}, random {is_target.mean():.3f}")
    assert precision >= floor and precision >= 3 * is_target.mean(), precision


def test_correlation_estimators_on_known_rankings():
    benchmark = np.array([0.1, 0.5, 0.3, 0.9])  # model 3 best, then 1, 2, 0
    losses = np.array(
        [
            [4.0, 3.0, 3.5, 2.0],  # falls exactly as the benchmark rises
            [2.0, 3.0, 2.5, 4.0],  # rises: the opposite
            [3.0, 3.0, 3.0, 3.0],  # constant: no information
            [4.0, 3.0, 2.0, 2.5],  # mostly falls: 2 of 6 pairs out of order
        ]
    )
    assert np.allclose(spearman(-losses, benchmark), [1.0, -1.0, 0.0, 0.4])
    assert np.allclose(predictive_strength(losses, benchmark), [1.0, 0.0, 0.0, 4 / 6])


def test_given_loss_columns_select_like_the_proxies(pool):
    """Losses given as columns (e.g. from proxy models of ``winnow evaluate``): a document
    whose loss falls with the benchmark is chosen."""
    table, _, _ = pool
    n = 50
    rng = np.random.default_rng(0)
    good = np.linspace(3.0, 2.0, 4)[None, :] + rng.normal(0, 0.01, (n, 4))
    bad = rng.normal(3.0, 0.3, (n, 4))
    losses = np.concatenate([good, bad])
    small = table.slice(0, 2 * n)
    for m in range(4):
        small = small.append_column(f"loss_{m}", pa.array(losses[:, m]))
    out = winnow.apply_stage(
        "perplexity_correlation", small, loss_columns=[f"loss_{m}" for m in range(4)],
        benchmark=[1.0, 2.0, 3.0, 4.0], keep_top_k=n,
    )  # fmt: skip
    keep = np.array(out.column("keep").to_pylist())
    assert keep[:n].all() and not keep[n:].any()


@pytest.mark.parametrize("name", ["quality_classifier", "perplexity", "embedding_similarity"])
def test_chat_records_are_scored_on_the_chosen_view(pool, name):
    """Half the records ask about papers and answer with a man page, half the reverse:
    ``view: prompt`` and ``view: response`` pick opposite halves (dsir: test_dsir.py)."""
    table, is_target, target = pool
    texts = table.column("text").to_pylist()
    papers = texts[:200]
    manuals = [t for t, hit in zip(texts, is_target) if not hit][-200:]
    records = [(p, m) for p, m in zip(papers[:100], manuals[:100])]
    records += [(m, p) for p, m in zip(papers[100:], manuals[100:])]
    chat = pa.table(
        {
            "text": [f"user: {q}\n\nassistant: {a}" for q, a in records],
            "messages": [
                [{"role": "user", "content": q}, {"role": "assistant", "content": a}]
                for q, a in records
            ],
        }
    )
    key = "positives" if name == "quality_classifier" else "target"
    chosen = {}
    for view in ("prompt", "response"):
        out = winnow.apply_stage(name, chat, keep_top_k=100, view=view, **{key: target})
        chosen[view] = np.nonzero(out.column("keep").to_pylist())[0]
    assert (chosen["prompt"] < 100).mean() >= 0.95
    assert (chosen["response"] >= 100).mean() >= 0.95


@pytest.mark.parametrize("name", ["perplexity_correlation", "preselect"])
def test_same_selection_whatever_workers_and_shards(pool, name, tmp_path):
    table, _, target = pool
    texts = table.column("text").to_pylist()[::2]
    stage = {name: {"target": target, "keep_fraction": 0.1, "proxies": 4, "proxy_docs": 200}}
    kept, _ = selected_two_ways(tmp_path, texts, stage)
    assert kept[0] == kept[1] and len(kept[0]) == round(0.1 * len(texts))


def test_unusable_models_and_references_are_clear_errors(tmp_path):
    data = write_jsonl(tmp_path / "in.jsonl", [{"text": "some words here"}] * 3)
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    cases = [
        ({"quality_classifier": {"positives": str(empty), "keep_fraction": 0.5}}, "no documents"),
        ({"perplexity": {"target": str(empty), "keep_fraction": 0.5}}, "no text"),
        ({"perplexity": {"model": str(data), "keep_fraction": 0.5}}, "in.jsonl:1: not an ARPA"),
        ({"quality_classifier": {"model": str(data), "min_score": 0.5}}, "not a fastText model"),
    ]
    for n, (stage, message) in enumerate(cases):
        recipe = {"inputs": [str(data)], "output": str(tmp_path / f"o{n}"), "stages": [stage]}
        with pytest.raises(winnow.RunFailed, match=message):
            winnow.run(recipe, workers=1)
