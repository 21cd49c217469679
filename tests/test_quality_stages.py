"""Quality stages on awkward input: never a crash, always a decision, reasons named."""

from __future__ import annotations

import pyarrow as pa
import pytest

import winnow
from tests.conftest import corpus_records

STAGES = ("gopher_quality", "gopher_repetition", "c4_quality", "fineweb_quality")
UDHR = {r["id"]: r["text"] for r in corpus_records("udhr")}


def _awkward() -> list[str]:
    abstracts = " ".join(r["text"] for r in corpus_records("abstracts"))
    big = (abstracts * (50_000_000 // len(abstracts) + 1))[:50_000_000]
    return [
        "",
        "   \n\t  ",
        "😀🎉🔥" * 50,
        "a\x00b\x07c\x1b[31m red \x08\x0c " * 20,
        big,
        UDHR["udhr-cmn_hans"],
        UDHR["udhr-jpn"],
        UDHR["udhr-tha"],
        UDHR["udhr-arb"],
    ]


@pytest.fixture(scope="module")
def awkward_table():
    return pa.table({"text": _awkward()})


@pytest.mark.parametrize("stage", STAGES)
def test_awkward_text_gets_a_decision(awkward_table, stage):
    out = winnow.apply_stage(stage, awkward_table)
    keep = out.column("keep").to_pylist()
    reasons = out.column("drop_reason").to_pylist()
    assert len(keep) == awkward_table.num_rows
    assert all(k == (r is None) for k, r in zip(keep, reasons))
    assert reasons[0] is not None  # empty text is never kept


DECLARATIONS = ("cmn_hans", "jpn", "tha", "arb", "kor", "hin", "rus")
EXPECTED_DROPS = {
    # (stage, declaration): reason, where the rule itself does not fit the script
    ("gopher_repetition", "jpn"): "duplicated_5_n_grams",  # datatrove's ja agrees
    ("c4_quality", "tha"): "too_few_sentences",  # Thai ends sentences with spaces
    ("fineweb_quality", "tha"): "line_punct_ratio",  # ... and lines too
}


@pytest.mark.parametrize("stage", STAGES)
def test_declarations_in_other_scripts_are_kept(stage):
    """With ``language: auto`` and no langid, words are split per writing system: the UDHR
    in Chinese, Japanese, Thai, Arabic, Korean, Hindi and Russian is kept, except where a
    rule cannot fit the script (listed above)."""
    table = pa.table({"text": [UDHR[f"udhr-{name}"] for name in DECLARATIONS]})
    reasons = winnow.apply_stage(stage, table).column("drop_reason").to_pylist()
    expected = [EXPECTED_DROPS.get((stage, name)) for name in DECLARATIONS]
    assert reasons == expected


def test_english_rules_drop_unspaced_scripts_as_datatrove_does():
    """``language: en`` reproduces datatrove's English default: a Chinese declaration is
    a few very long "words"."""
    table = pa.table({"text": [UDHR["udhr-cmn_hans"], UDHR["udhr-eng"]]})
    out = winnow.apply_stage("gopher_quality", table, language="en")
    assert out.column("drop_reason").to_pylist() == ["gopher_above_avg_threshold", None]


def test_langid_column_chooses_the_word_rules():
    """After ``langid``, its ``lang`` column picks the segmenter and the stop-word rule
    only applies to English."""
    texts = [UDHR["udhr-deu_1996"], UDHR["udhr-cmn_hans"], UDHR["udhr-eng"]]
    plain = winnow.apply_stage("gopher_quality", pa.table({"text": texts}))
    assert plain.column("drop_reason").to_pylist() == ["gopher_enough_stop_words", None, None]
    tagged = winnow.apply_stage("langid", pa.table({"text": texts}))
    tagged = tagged.drop_columns(["keep", "drop_reason"])
    out = winnow.apply_stage("gopher_quality", tagged)
    assert out.column("lang").to_pylist() == ["de", "zh", "en"]
    assert out.column("drop_reason").to_pylist() == [None, None, None]


def test_script_language_and_fallback_segmenter():
    from winnow.text.languages import _Graphemes, script_language

    expected = {"cmn_hans": "zh", "jpn": "ja", "tha": "th", "kor": "ko", "arb": "und"}
    for name, lang in expected.items():
        assert script_language(UDHR[f"udhr-{name}"]) == lang
    assert script_language(UDHR["udhr-deu_1996"]) == "en"  # Latin script: English rules
    words = _Graphemes().words("人人生而 abc自由, ok")
    assert words == ["人", "人", "生", "而", "abc", "自", "由", ",", "ok"]
    thai = _Graphemes().words("มนุษย์")
    assert "".join(thai) == "มนุษย์" and len(thai) < len("มนุษย์")  # marks stay on their letter


def test_stats_columns_are_recorded():
    import spacy
    from datatrove.utils.text import PUNCTUATION_SET

    text = corpus_records("abstracts", limit=1)[0]["text"]
    out = winnow.apply_stage("gopher_quality", pa.table({"text": [text]}))
    tokens = [t.text for t in spacy.blank("en")(text) if t.text.strip()]
    content = [t for t in tokens if any(ch not in PUNCTUATION_SET for ch in t)]
    assert out.column("gopher_words")[0].as_py() == len(content)
    assert 3 < out.column("gopher_mean_word_length")[0].as_py() < 10
    c4 = winnow.apply_stage("c4_quality", pa.table({"text": [text + "\nshort line"]}))
    # the title (no terminal punctuation), the blank line after it and the short line
    assert c4.column("c4_lines_removed")[0].as_py() == 3
    assert c4.column("text")[0].as_py() == text.split("\n\n", 1)[1]
