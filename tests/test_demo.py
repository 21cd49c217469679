"""`winnow demo` builds its corpus from Python's own text and runs the default recipe."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter

from tests.chat_records import strings
from tests.conftest import read_ledger, read_output


def test_demo_runs_end_to_end(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "winnow.cli", "demo", "--output", str(tmp_path / "demo")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "demo" / "output"
    assert f"output: {out}" in proc.stdout
    stages = ("read", "unique_ids", "normalize", "line_clean", "length_filter", "langid")
    later = ("gopher_quality", "gopher_repetition", "pii", "exact_dedup", "minhash_dedup",
             "decontaminate", "tokenize", "pack", "portrait")  # fmt: skip
    for stage in (*stages, *later):
        assert stage in proc.stdout
    stats = json.loads((out / "stats.json").read_text())
    assert stats["input_docs"] > 2000
    reasons = Counter(r["reason"] for r in read_ledger(out))
    assert reasons["invalid_input:json"] == 1 and reasons["invalid_input:text_not_string"] == 1
    assert reasons["exact_duplicate"] >= 50 and reasons["too_short_words"] >= 100
    assert reasons["language_not_kept"] >= 100  # the Faker documents in eight languages
    assert reasons["empty_after_line_clean"] >= 20  # pure boilerplate
    assert reasons["gopher_below_alpha_threshold"] >= 100  # code-heavy docstrings
    assert reasons["near_duplicate"] >= 50  # the edited copies (or their originals)
    assert reasons["contaminated:benchmark"] >= 20  # the benchmark's source documents
    docs = read_output(out)
    assert len(docs) == stats["output_docs"]
    assert {d["lang"] for d in docs} == {"en"}
    kinds = Counter(d["meta"].get("kind", "clean") for d in docs)
    assert kinds["clean"] > 300 and kinds["near_dup"] > 20 and "other_language" not in kinds
    pii = [d["text"] for d in docs if d["meta"].get("kind") == "pii"]
    assert pii and all("<EMAIL>" in text for text in pii)
    assert any(d.get("messages") for d in docs) and any(d.get("conversations") for d in docs)
    # the leak fixed: what pii replaced in a chat view is gone from the turns and tool calls
    planted = set()
    for line in (tmp_path / "demo" / "input" / "chat.jsonl").read_bytes().splitlines():
        record = json.loads(line)
        if record.get("kind") == "chat_pii":
            planted |= set(re.findall(r"[\w.+-]+@[\w-]+\.[\w.]+|\d+\.\d+\.\d+\.\d+", line.decode()))
    agents = [d for d in docs if d["meta"].get("kind") == "chat_pii"]
    assert len(planted) > 50 and len(agents) > 20
    replaced = 0
    for d in agents:
        found = strings(d)
        assert not any(p in s for p in planted for s in found), d["id"]
        replaced += any("<EMAIL>" in s for s in found) and any("<IP_ADDRESS>" in s for s in found)
        assert "text" not in d  # the turns are the data
    assert replaced >= len(agents) // 2  # (line_clean cut some planted lines whole)
    assert reasons["chat_refusal"] >= 3
    # mojibake documents come out repaired
    moji = [d["text"] for d in docs if d["meta"].get("kind") == "mojibake"]
    assert moji and not any("â€" in t or "Ã" in t for t in moji)
    # from documents to training tokens: packed sequences and a sketch of the output
    art = out / "artifacts"
    index = json.loads(next(art.glob("*-pack/index.json")).read_text())
    assert index["tokens"] == sum(d["n_tokens"] for d in docs)
    assert index["documents_truncated"] == sum(1 for d in docs if d["n_tokens"] > 1024)
    assert next(art.glob("*-tokenize/tokenizer.json")).exists()
    found = subprocess.run(
        [sys.executable, "-m", "winnow.cli", "contains", str(out), docs[0]["text"][:500]],
        capture_output=True, text=True,
    )  # fmt: skip
    assert found.returncode == 0 and found.stdout.startswith("yes")
