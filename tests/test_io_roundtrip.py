"""Every reader and writer, round-tripped on real documents."""

from __future__ import annotations

import html
import io

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard

import winnow
from tests.conftest import corpus_records, read_ledger, read_output, write_jsonl

DOCS = corpus_records("abstracts", limit=60)[::2]  # 30 real abstracts, unique texts


def _run(tmp_path, inputs, write=None, name="out"):
    recipe = {"inputs": inputs, "output": str(tmp_path / name), "stages": []}
    if write:
        recipe["write"] = write
    result = winnow.run(recipe, workers=1)
    assert result.stats["input_docs"] == result.stats["output_docs"] + result.stats["ledger_rows"]
    return read_output(tmp_path / name), read_ledger(tmp_path / name)


def _texts(docs):
    return [d["text"] for d in docs]


@pytest.mark.parametrize("suffix", [".jsonl", ".jsonl.gz", ".jsonl.zst"])
def test_jsonl_reader(tmp_path, suffix):
    path = tmp_path / f"in{suffix}"
    data = b"".join(orjson.dumps(r) + b"\n" for r in DOCS)
    if suffix.endswith(".zst"):
        data = zstandard.ZstdCompressor().compress(data)
    if suffix.endswith(".gz"):
        write_jsonl(path, DOCS)
    else:
        path.write_bytes(data)
    docs, ledger = _run(tmp_path, [str(path)])
    assert ledger == []
    assert [(d["id"], d["text"], d["meta"]) for d in docs] == [
        (r["id"], r["text"], r["meta"]) for r in DOCS
    ]
    assert docs[4]["source"] == f"{path}:5"


def test_parquet_reader_with_custom_fields(tmp_path):
    path = tmp_path / "in.parquet"
    pq.write_table(
        pa.table(
            {
                "uid": [r["id"] for r in DOCS],
                "body": [r["text"] for r in DOCS],
                "title": [r["meta"]["title"] for r in DOCS],
            }
        ),
        path,
    )
    docs, _ = _run(tmp_path, [{"path": str(path), "text_field": "body", "id_field": "uid"}])
    assert [d["id"] for d in docs] == [r["id"] for r in DOCS]
    assert _texts(docs) == _texts(DOCS)
    assert docs[3]["meta"] == {"title": DOCS[3]["meta"]["title"]}
    assert docs[3]["source"] == f"{path}:3"


@pytest.mark.parametrize("fmt,sep", [("csv", ","), ("tsv", "\t")])
def test_csv_and_tsv_reader(tmp_path, fmt, sep):
    import csv

    path = tmp_path / f"in.{fmt}"
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh, delimiter=sep)
        writer.writerow(["id", "text", "title"])
        for r in DOCS:
            writer.writerow([r["id"], r["text"], r["meta"]["title"]])
    docs, ledger = _run(tmp_path, [str(path)])
    assert ledger == []
    assert _texts(docs) == _texts(DOCS)
    assert docs[0]["meta"] == {"title": DOCS[0]["meta"]["title"]}


def test_text_reader_per_file_and_per_line(tmp_path):
    folder = tmp_path / "texts"
    folder.mkdir()
    for r in DOCS[:5]:
        (folder / f"{r['id']}.txt").write_text(r["text"])
    docs, _ = _run(tmp_path, [str(folder)], name="files")
    assert sorted(_texts(docs)) == sorted(_texts(DOCS[:5]))
    again, _ = _run(tmp_path, [str(folder)], name="files2")
    assert [d["id"] for d in docs] == [d["id"] for d in again]  # stable derived ids
    lines = tmp_path / "lines.txt"
    lines.write_text("\n".join(r["meta"]["title"] for r in DOCS) + "\n\n")
    docs, _ = _run(tmp_path, [{"path": str(lines), "text_split": "line"}], name="lines")
    assert _texts(docs) == [r["meta"]["title"] for r in DOCS]
    assert docs[2]["source"] == f"{lines}:3"


def test_hf_save_to_disk_reader(tmp_path):
    datasets = pytest.importorskip("datasets", reason="datasets is in the test extra")
    rows = [{"id": r["id"], "text": r["text"], "title": r["meta"]["title"]} for r in DOCS]
    datasets.Dataset.from_list(rows).save_to_disk(str(tmp_path / "ds"))
    dd = datasets.DatasetDict(
        {
            "train": datasets.Dataset.from_list(rows[:20]),
            "test": datasets.Dataset.from_list(rows[20:]),
        }
    )
    dd.save_to_disk(str(tmp_path / "dd"))
    docs, _ = _run(tmp_path, [str(tmp_path / "ds")], name="o1")
    assert _texts(docs) == _texts(DOCS)
    docs, _ = _run(tmp_path, [str(tmp_path / "dd")], name="o2")
    assert sorted(_texts(docs)) == sorted(_texts(DOCS))
    assert {d["meta"]["split"] for d in docs} == {"train", "test"}


def test_warc_reader_extracts_html_and_accounts_for_other_records(tmp_path):
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    path = tmp_path / "crawl.warc.gz"
    with open(path, "wb") as fh:
        writer = WARCWriter(fh, gzip=True)
        for i, r in enumerate(DOCS[:5]):
            title, abstract = r["text"].split("\n\n", 1)
            page = (
                f"<html><head><title>{html.escape(title)}</title></head><body>"
                f"<nav><a href='/'>Home</a> | <a href='/about'>About</a></nav>"
                f"<article><h1>{html.escape(title)}</h1><p>{html.escape(abstract)}</p></article>"
                f"<footer>Copyright example.org</footer></body></html>"
            )
            headers = StatusAndHeaders(
                "200 OK", [("Content-Type", "text/html; charset=utf-8")], protocol="HTTP/1.1"
            )
            writer.write_record(
                writer.create_warc_record(
                    f"https://example.org/paper/{i}",
                    "response",
                    payload=io.BytesIO(page.encode()),
                    http_headers=headers,
                )
            )
        headers = StatusAndHeaders("200 OK", [("Content-Type", "image/png")], protocol="HTTP/1.1")
        writer.write_record(
            writer.create_warc_record(
                "https://example.org/logo.png",
                "response",
                payload=io.BytesIO(b"\x89PNG\r\n"),
                http_headers=headers,
            )
        )
    docs, ledger = _run(tmp_path, [str(path)])
    assert len(docs) == 5
    for d, r in zip(docs, DOCS):
        abstract = r["text"].split("\n\n", 1)[1]
        assert abstract[:200] in d["text"]
        assert "Home | About" not in d["text"]
        assert d["meta"]["url"].startswith("https://example.org/paper/")
        assert d["id"].startswith("<urn:uuid:")
    assert [r["reason"] for r in ledger] == ["invalid_input:not_html"]


CHAT = [
    {
        "id": "m1",
        "messages": [
            {"role": "user", "content": "What is exact dedup?"},
            {"role": "assistant", "content": "Dropping identical documents."},
        ],
    },
    {"id": "p1", "prompt": "Define MinHash.", "response": "A sketch for Jaccard similarity."},
    {
        "id": "i1",
        "instruction": "Summarise.",
        "input": "Long text here.",
        "output": "Short.",
        "source_dataset": "alpaca-like",
    },
]


CHAT_KEYS = ("messages", "prompt", "response", "instruction", "input", "output")


def _data(doc: dict) -> dict:
    """A written document's data: its text, or the fields of its turns (Parquet holds
    OpenAI messages as JSON text)."""
    out = {k: doc[k] for k in ("text", *CHAT_KEYS) if doc.get(k) is not None}
    if isinstance(out.get("messages"), str):
        out["messages"] = orjson.loads(out["messages"])
    return out


@pytest.mark.parametrize("fmt", ["jsonl", "jsonl.gz", "jsonl.zst", "parquet"])
def test_writers_round_trip_through_the_readers(tmp_path, fmt):
    src = write_jsonl(tmp_path / "in.jsonl", DOCS + CHAT)
    first, _ = _run(tmp_path, [str(src)], write={"format": fmt, "shard_docs": 7}, name="first")
    parts = sorted((tmp_path / "first" / "data").iterdir())
    assert len(parts) == 5 and all(p.name.endswith(fmt) for p in parts)
    second, _ = _run(tmp_path, [str(tmp_path / "first" / "data")], name="second")
    # the first run's source becomes provenance in the second run's meta
    assert [(d["id"], _data(d), d["meta"]) for d in second] == [
        (d["id"], _data(d), {**d["meta"], "source": d["source"]}) for d in first
    ]
    assert [d["id"] for d in first] == [r["id"] for r in DOCS + CHAT]
    chat = {d["id"]: d for d in second}
    assert chat["m1"]["messages"] == CHAT[0]["messages"]
    assert "text" not in chat["m1"]  # the turns are the data, not their view
    if fmt == "parquet":  # Parquet holds every conversation as OpenAI messages
        assert chat["p1"]["messages"][1] == {"role": "assistant", "content": CHAT[1]["response"]}
        assert [p["text"] for p in chat["i1"]["messages"][0]["content"]] == [
            "Summarise.",
            "Long text here.",
        ]
    else:  # JSON Lines keeps each record's format
        assert {k: chat["p1"][k] for k in ("prompt", "response")} == {
            k: CHAT[1][k] for k in ("prompt", "response")
        }
        assert {k: chat["i1"][k] for k in ("instruction", "input", "output")} == {
            k: CHAT[2][k] for k in ("instruction", "input", "output")
        }
    assert chat["i1"]["meta"] == {"source_dataset": "alpaca-like", "source": f"{src}:33"}


@pytest.mark.parametrize("compression", ["none", "lz4"])
def test_scratch_files_give_back_the_columns_asked_in_that_order(tmp_path, compression):
    """A run's scratch file, uncompressed (marked in its footer and mapped whole) or LZ4
    (only the columns asked decoded), gives back exactly the columns asked, batch by batch."""
    from winnow.io.arrow_files import UNCOMPRESSED_MARK, load_columns, scratch_writer

    records = corpus_records("manpages")[:3000]
    table = pa.table(
        {
            "id": [r["id"] for r in records],
            "text": pa.array([r["text"] for r in records], pa.large_string()),
            "n": list(range(len(records))),
        }
    )
    path = tmp_path / "shard.arrow"
    with pa.OSFile(str(path), "wb") as sink, scratch_writer(sink, table.schema, compression) as w:
        for batch in table.to_batches(max_chunksize=700):
            w.write_batch(batch)
    with pa.memory_map(str(path)) as source:
        marked = pa.ipc.open_file(source).metadata == UNCOMPRESSED_MARK
    assert marked == (compression == "none")
    got = load_columns(path, ["n", "text"])
    assert got.column_names == ["n", "text"] and got.equals(table.select(["n", "text"]))
    assert got.column("text").num_chunks == 5
