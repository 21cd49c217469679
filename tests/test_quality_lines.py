"""The line and paragraph rules of gopher_quality, gopher_repetition and fineweb_quality,
computed for a whole batch in Arrow, against datatrove's definitions written out document
by document (``str.splitlines``, ``str.split``, ``re.split``, ``str.strip``, a set of seen
lines): the same counts, reasons and ratio columns on real documents, on awkward whitespace
and on random strings of line breaks, bullets and ellipses."""

from __future__ import annotations

import random
import re

import pyarrow as pa
import pytest

import winnow
from tests.conftest import corpus_records
from winnow.stages.quality.base import punctuation
from winnow.stages.quality.gopher import line_counts
from winnow.text.token_ids import token_ids

AWKWARD = [
    "", "\n", "\n\n\n", " \t ", "a", "a\n", "\na", "a\n\na\n\na", "a\na\na\nb",
    " x \n x \n x", "x\r\nx\r\nx", "same\n\n\nsame\n \nsame", "\xa0\n\xa0\nword.",
    "\x1c\x1dx\x1e\x1f", "line\u2028line\u2028line", "。\n。\n。", "ok!\nok!\n\n\nok!\n",
    "short\n" * 40, "Ends with a stop.\nAnd another one?\nno stop here\n" * 3,
]  # fmt: skip


def _documents() -> list[str]:
    docs = [r["text"] for r in corpus_records("copyright", limit=400)]
    docs += [r["text"] for r in corpus_records("manpages", limit=300)]
    docs += [r["text"] for r in corpus_records("udhr", limit=60)]
    docs += [p for r in corpus_records("abstracts", limit=200) for p in r["text"].split("\n\n")]
    return docs + AWKWARD


def _repeats(items: list[str]) -> tuple[int, int]:
    seen: set[str] = set()
    dups = chars = 0
    for item in items:
        if item in seen:
            dups, chars = dups + 1, chars + len(item)
        seen.add(item)
    return dups, chars


def _gopher_lines(text: str, p: dict) -> tuple[str | None, float | None, float | None]:
    if not text:
        return "empty", None, None
    paragraphs = re.split(r"\n{2,}", text.strip())
    lines = re.split("\n+", text)
    para_dups, para_chars = _repeats(paragraphs)
    line_dups, line_chars = _repeats(lines)
    line_frac, para_frac = line_dups / len(lines), para_dups / len(paragraphs)
    for limit, value, reason in (
        (p["dup_para_frac"], para_frac, "dup_para_frac"),
        (p["dup_para_char_frac"], para_chars / len(text), "dup_para_char_frac"),
        (p["dup_line_frac"], line_frac, "dup_line_frac"),
        (p["dup_line_char_frac"], line_chars / len(text), "dup_line_char_frac"),
    ):
        if limit and value > limit:
            return reason, line_frac, para_frac
    return None, line_frac, para_frac


def _fineweb(text: str, p: dict) -> tuple[str | None, float | None, float | None]:
    lines = [line for line in text.split("\n") if line.strip() != ""]
    if not lines:
        return "empty", None, None
    stops = punctuation()[1]
    punct = sum(line.endswith(stops) for line in lines) / len(lines)
    short = sum(len(line) <= p["short_line_length"] for line in lines) / len(lines)
    words = int(token_ids().word_counts([text])[0])
    if punct < p["line_punct_thr"] and not (punct == 0 and p["line_punct_exclude_zero"]):
        return "line_punct_ratio", punct, short
    if short > p["short_line_thr"]:
        return "short_line_ratio", punct, short
    if _repeats(lines)[1] / len(text.replace("\n", "")) > p["char_duplicates_ratio"]:
        return "char_dup_ratio", punct, short
    if text.count("\n") / max(words, 1) > p["new_line_ratio"]:
        return "list_ratio", punct, short
    return None, punct, short


GOPHER = {"dup_para_frac": 0.3, "dup_para_char_frac": 0.2, "dup_line_frac": 0.3,
          "dup_line_char_frac": 0.2}  # fmt: skip
FINEWEB = {"line_punct_thr": 0.12, "line_punct_exclude_zero": False,
           "short_line_thr": 0.67, "short_line_length": 30, "char_duplicates_ratio": 0.01,
           "new_line_ratio": 0.3}  # fmt: skip


@pytest.mark.parametrize(
    "changes",
    [{}, {"dup_para_frac": None, "dup_line_frac": 0.05, "dup_line_char_frac": 0}],
)
def test_gopher_line_rules_match_the_per_document_definition(changes):
    params = {**GOPHER, **changes}
    docs = _documents()
    out = winnow.apply_stage("gopher_repetition", pa.table({"text": docs}), language="en",
                             **params)  # fmt: skip
    reasons = out.column("drop_reason").to_pylist()
    line_fracs = out.column("gopher_dup_line_frac").to_pylist()
    para_fracs = out.column("gopher_dup_para_frac").to_pylist()
    line_reasons = {"empty", "dup_para_frac", "dup_para_char_frac", "dup_line_frac",
                    "dup_line_char_frac"}  # fmt: skip
    fired = 0
    for text, reason, line_frac, para_frac in zip(docs, reasons, line_fracs, para_fracs):
        expected = _gopher_lines(text, params)
        assert (line_frac, para_frac) == expected[1:], text[:200]
        if expected[0] is not None:
            assert reason == expected[0], text[:200]
            fired += 1
        else:  # only an n-gram rule may still drop it
            assert reason not in line_reasons, text[:200]
    assert fired > 50


@pytest.mark.parametrize(
    "changes", [{}, {"line_punct_exclude_zero": True, "short_line_length": 12}]
)
def test_fineweb_rules_match_the_per_document_definition(changes):
    params = {**FINEWEB, **changes}
    docs = _documents()
    out = winnow.apply_stage("fineweb_quality", pa.table({"text": docs}), language="en",
                             **params)  # fmt: skip
    got = zip(
        out.column("drop_reason").to_pylist(),
        out.column("fineweb_line_punct_ratio").to_pylist(),
        out.column("fineweb_short_line_ratio").to_pylist(),
    )
    expected = [_fineweb(text, params) for text in docs]
    for text, row, want in zip(docs, got, expected):
        assert row == want, text[:200]
    assert len({row[0] for row in expected}) >= 5  # most rules fire somewhere


def test_gopher_line_counts_are_those_of_splitlines():
    rng = random.Random(0)
    pieces = ["a", " ", "\n", "\r", "\r\n", "\x0b", "\x0c", "\x1c", "\x1e", "\x85", "\u2028",
              "\u2029", "-", "•", "...", "…", "\t", "\xa0", "\x1f"]  # fmt: skip
    texts = _documents() + ["".join(rng.choice(pieces) for _ in range(rng.randint(0, 12)))
                            for _ in range(20_000)]  # fmt: skip
    lines, bullets, ellipses = line_counts(pa.array(texts))
    for i, text in enumerate(texts):
        split = text.splitlines()
        assert (lines[i], bullets[i], ellipses[i]) == (
            len(split),
            sum(s.lstrip().startswith(("•", "-")) for s in split),
            sum(s.rstrip().endswith(("...", "…")) for s in split),
        ), repr(text)
