"""c4_badwords against datatrove's C4BadWordsFilter (its list download pointed at the lists
winnow ships), and the toxicity ratio."""

from __future__ import annotations

import random
from importlib import resources

import pyarrow as pa
from datatrove.data import Document
from datatrove.pipeline.filters import c4_filters

import winnow
from tests.conftest import corpus_records
from winnow.stages.badwords import badwords

LANGS = {
    "udhr-deu_1996": "de",
    "udhr-fra": "fr",
    "udhr-jpn": "ja",
    "udhr-cmn_hans": "zh",
    "udhr-rus": "ru",
    "udhr-spa": "es",
    "udhr-ita": "it",
    "udhr-tha": "th",
}


def _corpus() -> tuple[list[str], list[str]]:
    rng = random.Random(3)
    english = badwords("en")
    texts, langs = [], []
    for i, r in enumerate(corpus_records("abstracts")):
        words = r["text"].split(" ")
        if i % 3 == 0:
            words.insert(rng.randrange(len(words)), rng.choice(english))
        texts.append(" ".join(words))
        langs.append("en")
    udhr = {r["id"]: r["text"] for r in corpus_records("udhr")}
    for doc_id, lang in LANGS.items():
        for k in range(3):
            text = udhr[doc_id]
            if k:
                cut = rng.randrange(len(text))
                text = f"{text[:cut]} {rng.choice(badwords(lang))} {text[cut:]}"
            texts.append(text)
            langs.append(lang)
    return texts, langs


def test_c4_badwords_matches_datatrove(monkeypatch):
    folder = resources.files("winnow.data").joinpath("ldnoobw")
    monkeypatch.setattr(
        c4_filters,
        "cached_asset_path_or_download",
        lambda url, **_: str(folder.joinpath(f"{url.rsplit('/', 1)[1]}.txt")),
    )
    reference = c4_filters.C4BadWordsFilter()
    texts, langs = _corpus()
    theirs = []
    for text, lang in zip(texts, langs):
        verdict = reference.filter(Document(text=text, id="x", metadata={"language": lang}))
        theirs.append(None if verdict is True else verdict[1])
    out = winnow.apply_stage("c4_badwords", pa.table({"text": texts, "lang": langs}))
    ours = out.column("drop_reason").to_pylist()
    agree = sum(a == b for a, b in zip(ours, theirs))
    assert agree / len(texts) >= 0.995
    assert 200 < sum(r is not None for r in theirs) < len(texts) - 200


def test_toxicity_ratio():
    clean = corpus_records("abstracts", limit=1)[0]["text"]
    words = clean.split()
    flagged = " ".join(words[:20] + ["asshole"] * 2)
    out = winnow.apply_stage("toxicity", pa.table({"text": [clean, flagged]}))
    assert out.column("flagged_ratio").to_pylist()[0] == 0
    assert out.column("flagged_ratio").to_pylist()[1] == 2 / 22
    assert out.column("drop_reason").to_pylist() == [None, "too_many_flagged_words"]


def test_keep_fraction_keeps_a_seeded_share_of_flagged_documents():
    """C4's badwords filter as datatrove offers it: ``keep_fraction`` of flagged documents
    survive, chosen by a hash of seed and id (the same ids stay whatever the batch)."""
    table = pa.table({"id": [f"d{i}" for i in range(400)], "text": ["this says fuck off"] * 400})
    first = winnow.apply_stage("c4_badwords", table, keep_fraction=0.25)
    again = winnow.apply_stage("c4_badwords", table.slice(100), keep_fraction=0.25)
    kept = first.column("keep").to_pylist()
    assert 60 <= sum(kept) <= 140
    assert again.column("keep").to_pylist() == kept[100:]
