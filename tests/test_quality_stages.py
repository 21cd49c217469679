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


def test_repetition_rules_keep_declarations_in_any_script(awkward_table):
    """Line, paragraph and n-gram repetition do not assume spaces: the UDHR in Chinese,
    Japanese, Thai and Arabic is not repetitive and is kept."""
    reasons = winnow.apply_stage("gopher_repetition", awkward_table).column("drop_reason")
    assert reasons.to_pylist()[5:] == [None, None, None, None]


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
