"""line_clean on the demo's boilerplate: the added lines go, the prose stays untouched."""

from __future__ import annotations

import random

import pyarrow as pa

import winnow
from tests.conftest import corpus_records
from winnow.demo.build import BOILERPLATE

ABSTRACTS = [r["text"] for r in corpus_records("abstracts", limit=200)]


def test_boilerplate_lines_are_removed_and_counted():
    rng = random.Random(1)
    wrapped, added = [], []
    for text in ABSTRACTS:
        lines = rng.sample(BOILERPLATE, 3)
        wrapped.append("\n".join([lines[0], text, *lines[1:]]))
        added.append(sum(len(line) + 1 for line in lines))
    out = winnow.apply_stage("line_clean", pa.table({"text": wrapped + ABSTRACTS}))
    texts = out.column("text").to_pylist()
    assert texts == ABSTRACTS + ABSTRACTS
    assert out.column("line_clean_lines").to_pylist() == [3] * 200 + [0] * 200
    assert out.column("line_clean_chars").to_pylist()[:200] == added


def test_menus_repeats_and_documents_left_empty():
    text = ABSTRACTS[0]
    doc = "\n".join(["Home | News | Sport | Weather", text, "Page 2", "Page 2", "Page 2"])
    out = winnow.apply_stage(
        "line_clean", pa.table({"text": [doc, "Accept all cookies\nShare on Twitter"]})
    )
    assert out.column("text").to_pylist()[0] == text + "\nPage 2"
    assert out.column("line_clean_lines").to_pylist() == [3, 2]
    assert out.column("drop_reason").to_pylist() == [None, "empty_after_line_clean"]
