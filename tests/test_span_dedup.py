"""line_dedup and paragraph_dedup on the Debian copyright files (licence boilerplate repeated
across packages), against a plain-Python count of repeated units."""

from __future__ import annotations

from collections import Counter

import pyarrow as pa
import pytest

import winnow
from tests.conftest import corpus_records, read_ledger, read_output, run_two_ways, write_jsonl

SEPARATORS = {"line_dedup": "\n", "paragraph_dedup": "\n\n"}


def _expected(texts: list[str], separator: str, max_count: int) -> list[str]:
    """Each unit (stripped, non-blank) kept for its first ``max_count`` occurrences."""
    seen: Counter[str] = Counter()
    out = []
    for text in texts:
        kept = []
        for unit in text.split(separator):
            key = unit.strip()
            if key:
                seen[key] += 1
                if seen[key] > max_count:
                    continue
            kept.append(unit)
        out.append(separator.join(kept))
    return out


@pytest.fixture(scope="module")
def copyright_texts() -> list[str]:
    return [r["text"] for r in corpus_records("copyright", limit=300)]


@pytest.mark.parametrize("stage", sorted(SEPARATORS))
@pytest.mark.parametrize("max_count", [1, 3])
def test_repeated_units_removed_after_their_first_occurrences(copyright_texts, stage, max_count):
    table = pa.table({"text": copyright_texts})
    out = winnow.apply_stage(stage, table, max_count=max_count)
    expected = _expected(copyright_texts, SEPARATORS[stage], max_count)
    assert out.column("text").to_pylist() == expected
    unit = stage.split("_")[0]
    removed = out.column(f"{unit}_dedup_removed").to_pylist()
    chars = out.column(f"{unit}_dedup_chars").to_pylist()
    assert sum(removed) > 200  # licence texts repeat across packages
    assert chars == [len(a) - len(b) for a, b in zip(copyright_texts, expected)]
    blank = [not t.strip() for t in expected]
    assert out.column("keep").to_pylist() == [not b for b in blank]


def test_engine_gives_the_same_text_whatever_shards_and_workers(tmp_path, copyright_texts):
    records = [{"id": f"c{i}", "text": t} for i, t in enumerate(copyright_texts)]
    files = [write_jsonl(tmp_path / f"in{k}.jsonl", records[k::2]) for k in range(2)]
    order = [r["text"] for r in records[0::2]] + [r["text"] for r in records[1::2]]
    expected = _expected(order, "\n\n", 1)
    outputs = []
    for out in run_two_ways(tmp_path, files, [{"paragraph_dedup": {}}, {"exact_dedup": {}}]):
        outputs.append({d["id"]: d["text"] for d in read_output(out)})
        reasons = {r["reason"] for r in read_ledger(out)}
        assert reasons <= {"empty_after_paragraph_dedup", "exact_duplicate"}
    assert outputs[0] == outputs[1]
    kept = [t for t in expected if t.strip()]
    assert set(outputs[0].values()) <= set(kept)
    assert len(outputs[0]) == len({" ".join(t.lower().split()) for t in kept})
