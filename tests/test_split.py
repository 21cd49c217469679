"""A large plain JSON Lines file is cut into several shards at line ends (every worker gets
some of it) with exact line numbers; the output does not depend on the cut."""

from __future__ import annotations

import gzip

import orjson

import winnow
from tests.conftest import corpus_records, read_ledger, read_output, tree_digest
from winnow.io.inputs import expand, group_shards

STAGES = [{"normalize": {}}, {"length_filter": {"min_words": 30}}, {"exact_dedup": {}},
          {"minhash_dedup": {}}]  # fmt: skip


def _big_file(tmp_path):
    """Man pages and abstracts (each abstract twice), with blank and broken lines."""
    records = corpus_records("manpages", 1500) + corpus_records("abstracts", 300) * 2
    lines = []
    for i, r in enumerate(records):
        lines.append(orjson.dumps({"id": f"d{i}", "text": r["text"]}))
        if i % 97 == 0:
            lines += [b"", b'{"id": "broken", "text": ']
    path = tmp_path / "big.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path, lines


def _whole_and_cut(tmp_path, path) -> list:
    """The output folders of STAGES over ``path`` read as one shard and cut into many."""
    outs = []
    for name, shard_mb in (("whole", 1024), ("cut", 0.5)):
        out = tmp_path / name
        recipe = {"inputs": [str(path)], "output": str(out), "stages": STAGES,
                  "read": {"shard_mb": shard_mb}}  # fmt: skip
        winnow.run(recipe, workers=2)
        outs.append(out)
    return outs


def test_pieces_cover_the_file_at_line_ends(tmp_path):
    path, lines = _big_file(tmp_path)
    (f,) = expand(str(path))
    pieces = [p for shard in group_shards([f], 1 << 20) for p in shard]
    assert len(pieces) >= 5
    data = path.read_bytes()
    assert b"".join(data[p.start : p.end] for p in pieces) == data
    for p in pieces:
        assert p.start == 0 or data[p.start - 1 : p.start] == b"\n"
        assert p.first_line == data[: p.start].count(b"\n") + 1
    gz = tmp_path / "big.jsonl.gz"
    gz.write_bytes(gzip.compress(data))
    (g,) = expand(str(gz))
    assert [p for shard in group_shards([g], 1 << 20) for p in shard] == [g]  # not splittable


def test_one_big_file_gives_what_one_shard_gives(tmp_path):
    path, lines = _big_file(tmp_path)
    outs = _whole_and_cut(tmp_path, path)
    assert tree_digest(outs[0]) == tree_digest(outs[1])  # data and ledger, byte for byte
    # sources name the exact line of the whole file
    for doc in read_output(outs[1]):
        number = int(doc["source"].rsplit(":", 1)[1])
        assert orjson.loads(lines[number - 1])["id"] == doc["id"]
    broken = [r for r in read_ledger(outs[1]) if r["reason"] == "invalid_input:json"]
    assert broken and all(
        lines[int(r["source"].rsplit(":", 1)[1]) - 1].startswith(b'{"id": "broken"') for r in broken
    )


def test_a_compressed_file_is_read_whole_and_the_run_says_so(tmp_path):
    path, _ = _big_file(tmp_path)
    gz = tmp_path / "big.jsonl.gz"
    gz.write_bytes(gzip.compress(path.read_bytes()))
    recipe = {"inputs": [str(gz)], "output": str(tmp_path / "out"), "read": {"shard_mb": 0.5}}
    result = winnow.run(recipe, workers=1)
    assert result.stats["unsplit_inputs"] == [str(gz)]
    assert result.stats["output_docs"] == 2100


def test_a_parquet_file_is_cut_at_row_groups(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    records = corpus_records("manpages", 1200) + corpus_records("abstracts", 200) * 2
    path = tmp_path / "big.parquet"
    table = pa.table({"id": [f"d{i}" for i in range(len(records))],
                      "text": [r["text"] for r in records]})  # fmt: skip
    pq.write_table(table, path, row_group_size=100)
    (f,) = expand(str(path))
    pieces = [p for shard in group_shards([f], 1 << 20) for p in shard]
    assert len(pieces) >= 5 and pieces[0].start == 0 and pieces[-1].end is None
    assert all(a.end == b.start for a, b in zip(pieces, pieces[1:]))
    outs = _whole_and_cut(tmp_path, path)
    assert tree_digest(outs[0]) == tree_digest(outs[1])
    for doc in read_output(outs[1]):  # sources name the exact row
        assert table.column("id")[int(doc["source"].rsplit(":", 1)[1])].as_py() == doc["id"]


def test_a_blank_file_is_one_empty_file_row_however_it_is_cut(tmp_path):
    blank = tmp_path / "in" / "blank.jsonl"
    blank.parent.mkdir()
    blank.write_bytes(b"\n \n\t\n" * 400_000)  # 2 MB of whitespace: cut into pieces at 0.5
    outs = _whole_and_cut(tmp_path, blank.parent)
    assert tree_digest(outs[0]) == tree_digest(outs[1])
    assert [r["reason"] for r in read_ledger(outs[1])] == ["invalid_input:empty_file"]
