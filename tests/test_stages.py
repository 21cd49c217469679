"""The built-in stages on real text, and the in-memory API on Arrow tables and HF datasets."""

from __future__ import annotations

import unicodedata

import pyarrow as pa
import pytest
import regex

import winnow
from tests.conftest import corpus_records

UDHR = {r["id"]: r["text"] for r in corpus_records("udhr")}


def test_normalize_repairs_mojibake_on_real_translations():
    originals = [UDHR["udhr-fra"], UDHR["udhr-deu_1996"], UDHR["udhr-rus"], UDHR["udhr-por_PT"]]
    broken = [t.encode("utf-8").decode("latin-1", errors="replace") for t in originals[:2]]
    import ftfy.bad_codecs  # noqa: F401  registers sloppy-windows-1252, what browsers do

    broken += [originals[2].encode("utf-8").decode("sloppy-windows-1252")]
    table = pa.table({"text": broken + originals})
    out = winnow.apply_stage("normalize", table, whitespace=False)
    fixed = out.column("text").to_pylist()
    assert fixed[0] == unicodedata.normalize("NFC", originals[0])
    assert fixed[1] == unicodedata.normalize("NFC", originals[1])
    assert fixed[2] == unicodedata.normalize("NFC", originals[2])
    # text that was fine is left alone
    assert fixed[3:] == [unicodedata.normalize("NFC", t) for t in originals]


def test_normalize_nfc_and_whitespace():
    decomposed = unicodedata.normalize("NFD", UDHR["udhr-vie"])
    assert decomposed != UDHR["udhr-vie"]
    messy = "  Title\u00a0here \r\n\r\n\r\n\r\nBody\u3000text   \t\nend  \n\n"
    out = winnow.apply_stage("normalize", pa.table({"text": [decomposed, messy]}))
    text = out.column("text").to_pylist()
    assert text[0] == unicodedata.normalize("NFC", UDHR["udhr-vie"]).strip()
    assert text[1] == "Title here\n\nBody text\nend"


def test_normalize_also_cleans_chat_turns():
    table = pa.table(
        {
            "text": ["user: caf\u00c3\u00a9  \n\n\n\nassistant: ok"],
            "messages": [
                [
                    {"role": "user", "content": "caf\u00c3\u00a9  "},
                    {"role": "assistant", "content": "ok\r\n"},
                ]
            ],
        }
    )
    out = winnow.apply_stage("normalize", table)
    assert out.column("messages").to_pylist()[0] == [
        {"role": "user", "content": "café"},
        {"role": "assistant", "content": "ok"},
    ]
    assert out.column("text").to_pylist()[0] == "user: café\n\nassistant: ok"


def test_length_filter_counts_match_a_reference_count():
    texts = [r["text"] for r in corpus_records("copyright", limit=200)]
    out = winnow.apply_stage(
        "length_filter", pa.table({"text": texts}), min_words=100, max_words=5000, max_chars=20000
    )
    words = [len(t.split()) for t in texts]
    assert out.column("length_words").to_pylist() == words
    assert out.column("length_chars").to_pylist() == [len(t) for t in texts]
    expected = [
        "too_short_words"
        if w < 100
        else "too_long_words"
        if w > 5000
        else "too_long_chars"
        if len(t) > 20000
        else None
        for t, w in zip(texts, words)
    ]
    assert out.column("drop_reason").to_pylist() == expected
    assert out.column("keep").to_pylist() == [e is None for e in expected]
    assert set(expected) == {None, "too_short_words", "too_long_words", "too_long_chars"}


def test_exact_dedup_matches_the_papers_ground_truth():
    """The abstracts README: 687 distinct paper keys among 778 records."""
    records = corpus_records("abstracts")
    table = pa.table({"id": [r["id"] for r in records], "text": [r["text"] for r in records]})
    out = winnow.apply_stage("exact_dedup", table)
    keep = out.column("keep").to_pylist()
    assert sum(keep) == 687
    first_of_key: dict[str, str] = {}
    for r in records:
        first_of_key.setdefault(r["meta"]["paper_key"], r["id"])
    kept_ids = {r["id"] for r, k in zip(records, keep) if k}
    assert kept_ids == set(first_of_key.values())
    for r, dup in zip(records, out.column("duplicate_of").to_pylist()):
        assert dup is None or dup == first_of_key[r["meta"]["paper_key"]]


def test_exact_dedup_normalisation_is_configurable():
    text = UDHR["udhr-eng"]
    variants = [text, text.upper(), regex.sub(r"\s+", "  ", text), text + " extra"]
    table = pa.table({"text": variants})
    assert winnow.apply_stage("exact_dedup", table).column("keep").to_pylist() == [
        True,
        False,
        False,
        True,
    ]
    strict = winnow.apply_stage("exact_dedup", table, lowercase=False, collapse_whitespace=False)
    assert strict.column("keep").to_pylist() == [True, True, True, True]


def test_apply_stage_on_a_hugging_face_dataset():
    datasets = pytest.importorskip("datasets", reason="datasets is in the test extra")
    records = corpus_records("abstracts", limit=100)
    ds = datasets.Dataset.from_list(
        [{"text": r["text"], "title": r["meta"]["title"]} for r in records]
    )
    out = winnow.apply_stage("length_filter", ds, min_words=150, drop=True)
    assert isinstance(out, datasets.Dataset)
    assert out.num_rows == sum(len(r["text"].split()) >= 150 for r in records)
    assert {"title", "length_words", "text"} <= set(out.column_names)


def test_unknown_stage_and_bad_params_in_the_api():
    with pytest.raises(KeyError, match="unknown stage"):
        winnow.make_stage("nope")
    with pytest.raises(ValueError, match="min_words"):
        winnow.make_stage("length_filter", min_words=-1)


def test_token_estimate():
    texts = [UDHR["udhr-eng"], "", "日本語"]
    out = winnow.apply_stage("token_count", pa.table({"text": texts}))
    assert out.column("token_estimate").to_pylist() == [
        -(-len(UDHR["udhr-eng"].encode()) // 4),
        0,
        3,
    ]
