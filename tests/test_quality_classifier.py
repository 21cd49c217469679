"""quality_classifier: fastText trained with fastText's own trainer, scored by winnow's
numpy fastText, on paper abstracts (positives) among man pages and licences."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

import winnow
from tests.conftest import corpus_records, selected_two_ways, write_jsonl
from winnow.models.fasttext import FastTextModel
from winnow.models.fasttext_train import one_line, train_classifier

FIXTURE = Path(__file__).parent / "data" / "abstracts_vs_manpages.ftz"


@pytest.fixture(scope="module")
def pool(tmp_path_factory):
    folder = tmp_path_factory.mktemp("classifier")
    abstracts = [r["text"] for r in corpus_records("abstracts")]
    others = [r["text"][:1500] for r in corpus_records("manpages", limit=2000)]
    others += [r["text"][:1500] for r in corpus_records("copyright", limit=400)]
    positives = write_jsonl(folder / "pos.jsonl", [{"text": t} for t in abstracts[:300]])
    texts = abstracts[300:] + others
    return folder, texts, len(abstracts) - 300, positives


def test_numpy_scores_equal_fasttext_on_word_ngram_models(tmp_path):
    """winnow's numpy probabilities equal fastText's C++ predict (fasttext-predict) on two
    models: one trained by fastText itself (tests/data: word trigrams, char n-grams 2-4,
    hierarchical softmax, quantized and pruned) and one trained by winnow."""
    import fasttext

    positives = [r["text"] for r in corpus_records("abstracts", 400)]
    negatives = [r["text"][:1500] for r in corpus_records("manpages", 400)]
    texts = [one_line(r["text"][:1000]) for r in corpus_records("udhr", 200)]
    texts += [one_line(t) for t in positives[:100] + negatives[:100]]
    texts += ["", "a", "</s> after", "__label__pos is not a word", "😀 ünïcode"]
    ours = train_classifier(positives, negatives, tmp_path / "m.bin", word_ngrams=3)
    for path in (FIXTURE, ours):
        reference = fasttext.load_model(str(path)).f.predict
        theirs = [dict((b, a) for a, b in reference(t + "\n", -1, 0.0, "replace")) for t in texts]
        mine = FastTextModel(path).probability(texts, "pos")
        assert np.abs(mine - [d["__label__pos"] for d in theirs]).max() < 1e-5
        assert (mine[200:300] > 0.5).mean() > 0.9 and (mine[300:400] < 0.5).mean() > 0.9


def test_training_twice_gives_the_same_model(tmp_path):
    positives = [r["text"] for r in corpus_records("abstracts", 200)]
    negatives = [r["text"][:1000] for r in corpus_records("copyright", 200)]
    first = train_classifier(positives, negatives, tmp_path / "a.bin", seed=3)
    second = train_classifier(positives, negatives, tmp_path / "b.bin", seed=3)
    assert first.read_bytes() == second.read_bytes()


def test_top_tenth_is_the_target_domain_and_the_model_is_reusable(pool, tmp_path):
    _, texts, n_target, positives = pool
    table = pa.table({"text": texts})
    model = tmp_path / "quality.bin"
    out = winnow.apply_stage(
        "quality_classifier", table, positives=str(positives), keep_fraction=0.1,
        model=str(model),
    )  # fmt: skip
    keep = np.array(out.column("keep").to_pylist())
    is_target = np.arange(len(texts)) < n_target
    assert keep.sum() == round(0.1 * len(texts))
    assert is_target[keep].mean() >= 0.9  # measured 1.0; a random tenth: 0.17
    score = out.column("quality_classifier_score").to_numpy()
    assert score[is_target].mean() > 0.7 > 0.3 > score[~is_target].mean()
    # a later recipe scores with the saved model alone
    again = winnow.apply_stage("quality_classifier", table, model=str(model), min_score=0.5)
    assert np.array_equal(again.column("quality_classifier_score").to_numpy(), score)
    assert again.column("keep").to_pylist() == (score >= 0.5).tolist()


def test_same_selection_whatever_workers_and_shards(pool, tmp_path):
    _, texts, _, positives = pool
    stage = {"quality_classifier": {"positives": str(positives), "keep_top_k": 300}}
    kept, outputs = selected_two_ways(tmp_path, texts, stage)
    assert kept[0] == kept[1] and len(kept[0]) == 300
    for out in outputs:  # the trained model is kept with the run
        assert list((out / "artifacts").glob("*/model.bin"))


def test_needs_positives_or_a_model(tmp_path):
    data = str(write_jsonl(tmp_path / "a.jsonl", [{"text": "x"}]))
    for params in ({"keep_fraction": 0.5}, {"model": "missing.bin", "keep_fraction": 0.5}):
        with pytest.raises(winnow.RecipeError, match="positives|missing.bin"):
            winnow.load_recipe(
                {"inputs": [data], "output": str(tmp_path / "o"),
                 "stages": [{"quality_classifier": params}]}
            )  # fmt: skip
