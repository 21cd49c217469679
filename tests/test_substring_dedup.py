"""substring_dedup against a plain-Python reference: a token is removed when some window of
``min_tokens`` tokens around it already occurred earlier in the corpus (equivalent to the
longest-previous-factor definition the stage uses)."""

from __future__ import annotations

import random
import re

import pyarrow as pa

import winnow
from tests.conftest import corpus_records

TOKEN = re.compile(r"\w+|[^\w\s]")


def _reference(texts: list[str], k: int) -> list[str]:
    seen: set[tuple[str, ...]] = set()
    out = []
    for text in texts:
        spans = [m.span() for m in TOKEN.finditer(text)]
        tokens = [text[a:b] for a, b in spans]
        gone = [False] * len(tokens)
        for i in range(len(tokens) - k + 1):
            window = tuple(tokens[i : i + k])
            if window in seen:
                gone[i : i + k] = [True] * k
            else:
                seen.add(window)
        pieces, at, i = [], 0, 0
        while i < len(tokens):
            if gone[i]:
                j = i
                while j + 1 < len(tokens) and gone[j + 1]:
                    j += 1
                pieces.append(text[at : spans[i][0]])
                at = spans[j][1]
                i = j + 1
            else:
                i += 1
        out.append("".join(pieces) + text[at:])
    return out


def test_planted_spans_above_the_threshold_are_cut_after_their_first_copy():
    rng = random.Random(3)
    words = [f"w{i}" for i in range(2000)]

    def prose(n: int) -> str:
        return " ".join(rng.choice(words) for _ in range(n))

    long_span, short_span = prose(70), prose(30)
    texts = [
        prose(40) + " " + long_span + ". " + short_span,
        "Intro. " + long_span + " and " + short_span + " end.",
        prose(20),
        long_span,
    ]
    out = winnow.apply_stage("substring_dedup", pa.table({"text": texts}))
    assert out.column("text").to_pylist() == _reference(texts, 50)
    kept = out.column("text").to_pylist()
    assert long_span in kept[0] and long_span not in kept[1] and short_span in kept[1]
    assert out.column("drop_reason").to_pylist()[3] == "empty_after_substring_dedup"


def test_licence_text_repeated_across_copyright_files():
    texts = [r["text"] for r in corpus_records("copyright", limit=120)]
    out = winnow.apply_stage("substring_dedup", pa.table({"text": texts}))
    assert out.column("text").to_pylist() == _reference(texts, 50)
    cut = out.column("substring_dedup_chars").to_pylist()
    assert sum(cut) > 0.2 * sum(map(len, texts))  # licences repeat across packages


def test_engine_matches_the_stage_whatever_shards_and_workers(tmp_path):
    from tests.conftest import read_output, run_two_ways, write_jsonl

    texts = [r["text"] for r in corpus_records("copyright", limit=80)]
    records = [{"id": f"c{i}", "text": t} for i, t in enumerate(texts)]
    files = [
        write_jsonl(tmp_path / f"in{k}.jsonl", records[k * 20 : k * 20 + 20]) for k in range(4)
    ]
    expected = dict(zip([r["id"] for r in records], _reference(texts, 50)))
    for out in run_two_ways(tmp_path, files, [{"substring_dedup": {}}]):
        got = {d["id"]: d["text"] for d in read_output(out)}
        assert got == {i: t for i, t in expected.items() if t.strip()}
