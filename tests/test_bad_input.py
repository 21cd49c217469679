"""Bad input never crashes a run and is never lost: each bad record is a ledger row."""

from __future__ import annotations

import gzip
import subprocess
import sys

import orjson
import pytest
import yaml
import zstandard

import winnow
from tests.conftest import corpus_records, read_ledger, read_output

GOOD = corpus_records("abstracts", limit=40)


def _lines(records) -> bytes:
    return b"".join(orjson.dumps(r) + b"\n" for r in records)


def _run(tmp_path, inputs, **kw):
    recipe = {
        "inputs": [str(p) for p in inputs],
        "output": str(tmp_path / "out"),
        "stages": [{"normalize": {}}],
    }
    result = winnow.run(recipe, workers=kw.pop("workers", 1), **kw)
    stats = result.stats
    assert stats["input_docs"] == stats["output_docs"] + stats["ledger_rows"]
    return result, read_output(tmp_path / "out"), read_ledger(tmp_path / "out")


def _reasons(ledger):
    return {(r["source"], r["reason"]) for r in ledger}


def test_bad_records_become_ledger_rows(tmp_path):
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(
        _lines(GOOD[:2])
        + b'{"id": "cut", "text": "no closing\n'  # line 3
        + b'{"id": "latin1", "text": "caf\xe9"}\n'  # line 4
        + b'{"id": "no-text", "title": "x"}\n'  # line 5
        + b'{"id": "num", "text": 42}\n'  # line 6
        + b"\n"  # blank: not a record
        + b'["a", "list"]\n'  # line 8
        + b'{"id": "null", "text": null}\n'  # line 9
        + _lines(GOOD[2:4])
    )
    result, docs, ledger = _run(tmp_path, [path])
    p = str(path)
    assert _reasons(ledger) == {
        (f"{p}:3", "invalid_input:json"),
        (f"{p}:4", "invalid_input:utf8"),
        (f"{p}:5", "invalid_input:missing_text"),
        (f"{p}:6", "invalid_input:text_not_string"),
        (f"{p}:8", "invalid_input:not_an_object"),
        (f"{p}:9", "invalid_input:missing_text"),
    }
    assert {r["id"] for r in ledger} >= {"no-text", "num", "null"}
    assert [d["id"] for d in docs] == [r["id"] for r in GOOD[:4]]
    assert result.stats["input_docs"] == 10


def test_empty_file_and_truncated_archives(tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    every = corpus_records("abstracts")  # 1.3 MB: several compressed blocks
    data = _lines(every)
    gz, zst = tmp_path / "cut.jsonl.gz", tmp_path / "cut.jsonl.zst"
    gz.write_bytes(gzip.compress(data, mtime=0)[: len(gzip.compress(data)) // 2])
    zst.write_bytes(zstandard.ZstdCompressor().compress(data)[:-100])
    _, docs, ledger = _run(tmp_path, [empty, gz, zst])
    ledger = [r for r in ledger if r["reason"] != "invalid_input:duplicate_id"]
    reasons = sorted(r["reason"] for r in ledger)
    assert reasons == [
        "invalid_input:empty_file",
        "invalid_input:truncated_file",
        "invalid_input:truncated_file",
    ]
    assert {r["source"].rsplit(":", 1)[0] for r in ledger} == {str(empty), str(gz), str(zst)}
    # the complete records before each cut are kept, and nothing is invented
    ids = [d["id"] for d in docs]
    assert 0 < len(ids) < 2 * len(every)
    assert set(ids) <= {r["id"] for r in every}


def test_duplicate_ids_across_files(tmp_path):
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    a.write_bytes(_lines(GOOD[:5]))
    b.write_bytes(_lines([{**GOOD[1], "text": "another text"}, GOOD[7]]))
    _, docs, ledger = _run(tmp_path, [a, b], workers=2)
    assert [(r["id"], r["source"], r["reason"], r["duplicate_of"]) for r in ledger] == [
        (GOOD[1]["id"], f"{b}:1", "invalid_input:duplicate_id", GOOD[1]["id"])
    ]
    assert len(docs) == 6


def test_fifty_megabyte_document(tmp_path):
    big = "word " * 10_000_000
    path = tmp_path / "big.jsonl"
    path.write_bytes(_lines([{"id": "big", "text": big}, GOOD[0]]))
    _, docs, ledger = _run(tmp_path, [path])
    assert ledger == []
    assert docs[0]["id"] == "big" and len(docs[0]["text"]) == len(big.strip())


def test_bad_csv_row(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("id,text\n1,first document\n2,second,extra\n3,third document\n")
    _, docs, ledger = _run(tmp_path, [path])
    assert [d["id"] for d in docs] == ["1", "3"]
    assert [(r["source"], r["reason"]) for r in ledger] == [(f"{path}:3", "invalid_input:csv_row")]


def _cli(tmp_path, *extra, inputs):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump({"inputs": [str(i) for i in inputs], "stages": []}))
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "winnow.cli",
            "run",
            str(recipe),
            "-o",
            str(tmp_path / "out"),
            *extra,
        ],
        capture_output=True,
        text=True,
    )


def test_strict_fails_on_invalid_input(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_bytes(_lines(GOOD[:3]) + b"{oops\n")
    proc = _cli(tmp_path, "--strict", inputs=[path])
    assert proc.returncode == 2
    assert f"{path}:4: invalid_input:json" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize("content", [b"this is not gzip at all", b"\x1f\x8b\x08garbage"])
def test_unreadable_file_is_a_clear_error(tmp_path, content):
    path = tmp_path / "broken.jsonl.gz"
    path.write_bytes(content)
    proc = _cli(tmp_path, inputs=[path])
    assert proc.returncode == 2
    assert str(path) in proc.stderr and "Traceback" not in proc.stderr


def test_strict_on_resume_still_sees_the_reused_ids(tmp_path, monkeypatch):
    """Resuming with --strict after the segment that applied the id check was deleted: the
    check reads that segment's ledger instead of the deleted decisions."""
    import winnow.engine.local as local
    from winnow.engine.errors import RunFailed

    path = tmp_path / "dups.jsonl"
    path.write_text('{"id": "a", "text": "one"}\n{"id": "a", "text": "two"}\n')
    recipe = {"inputs": [str(path)], "output": str(tmp_path / "out"),
              "stages": [{"normalize": {}}, {"exact_dedup": {}}]}  # fmt: skip

    def crash(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(local, "write_ledger", crash)  # every segment done, then a crash
    with pytest.raises(RunFailed):
        winnow.run(recipe, workers=1)
    monkeypatch.undo()
    assert not list((tmp_path / "out" / "_work" / "reduce01").glob("*.arrow"))  # deleted
    with pytest.raises(RunFailed) as err:
        winnow.run(recipe, workers=1, resume=True, strict=True)
    assert err.value.exit_code == 2 and "id 'a' used again" in str(err.value)
