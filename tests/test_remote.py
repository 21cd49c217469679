"""Inputs and outputs at s3:// URLs, against a real S3 endpoint on 127.0.0.1 (moto's
server, spoken to over HTTP by s3fs and botocore): the same kept ids, ledger and
duplicate_of as the same files on local disk; the output URL's rules (not empty, resume,
overwrite); on the local executor and on a local Ray cluster."""

from __future__ import annotations

import gzip

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import winnow
from tests.conftest import corpus_records, read_ledger, read_output, write_jsonl
from winnow.engine.local import RunFailed

STAGES = [{"normalize": {}}, {"exact_dedup": {}}, {"minhash_dedup": {}}]


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    """A bucket on a moto S3 server; the environment points botocore at it."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    env = {
        "AWS_ACCESS_KEY_ID": "winnow",
        "AWS_SECRET_ACCESS_KEY": "winnow",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": f"http://{host}:{port}",
    }
    patch = pytest.MonkeyPatch()
    for key, value in env.items():
        patch.setenv(key, value)
    import fsspec

    fs = fsspec.filesystem("s3", skip_instance_cache=True)
    fs.mkdir("corpus")
    yield fs
    patch.undo()
    server.stop()


@pytest.fixture(scope="module")
def inputs(s3, tmp_path_factory):
    """Man pages (with planted exact and near repeats) as two gzipped JSONL files and one
    Parquet file, on local disk and uploaded to s3://corpus/in/."""
    records = corpus_records("manpages", limit=900)
    records += [{**r, "id": f"{r['id']}-again"} for r in records[:60]]
    edited = [r for r in records[100:400] if len(r["text"]) > 2000][:30]
    records += [{"id": f"{r['id']}-edited", "text": r["text"] + "\nEdited copy."} for r in edited]
    folder = tmp_path_factory.mktemp("remote-in")
    write_jsonl(folder / "a.jsonl.gz", records[0::3])
    write_jsonl(folder / "b.jsonl.gz", records[1::3])
    rows = records[2::3]
    pq.write_table(
        pa.table({"id": [r["id"] for r in rows], "text": [r["text"] for r in rows]}),
        folder / "c.parquet",
    )
    for path in sorted(folder.iterdir()):
        s3.put_file(str(path), f"corpus/in/{path.name}")
    return folder


def _decisions(out) -> tuple[list, list]:
    kept = [d["id"] for d in read_output(out)]
    cols = ("id", "stage", "reason", "duplicate_of")
    rows = sorted(tuple(r[c] for c in cols) for r in read_ledger(out))
    return kept, rows


def _download(s3, url: str, folder):
    s3.get(url.removeprefix("s3://"), str(folder), recursive=True)
    return folder


def test_s3_inputs_and_output_equal_local_files(s3, inputs, tmp_path, monkeypatch):
    monkeypatch.setenv("WINNOW_CACHE", str(tmp_path / "cache"))
    local = tmp_path / "local"
    winnow.run({"inputs": [str(inputs)], "output": str(local), "stages": STAGES}, workers=2)
    url = "s3://corpus/runs/first"
    result = winnow.run({"inputs": ["s3://corpus/in/"], "output": url, "stages": STAGES}, workers=2)
    assert result.output == url
    assert s3.exists("corpus/runs/first/stats.json") and s3.exists("corpus/runs/first/report.html")
    assert not list((tmp_path / "cache" / "runs").iterdir())  # staging removed after upload
    remote = _download(s3, url, tmp_path / "downloaded")
    kept, ledger = _decisions(remote)
    assert (kept, ledger) == _decisions(local)
    reasons = {r[2] for r in ledger}
    assert {"exact_duplicate", "near_duplicate"} <= reasons and len(kept) > 600
    sources = [d["source"] for d in read_output(remote)]
    assert all(s.startswith("s3://corpus/in/") for s in sources)
    stats = orjson.loads(s3.cat_file("corpus/runs/first/stats.json"))
    assert stats["input_docs"] == 990 == stats["output_docs"] + stats["ledger_rows"]


def test_output_url_not_empty_resume_and_overwrite(s3, inputs, tmp_path, monkeypatch):
    monkeypatch.setenv("WINNOW_CACHE", str(tmp_path / "cache"))
    recipe = {"inputs": ["s3://corpus/in/*.jsonl.gz"], "stages": STAGES[:2]}
    url = "s3://corpus/runs/rules"
    first = winnow.run({**recipe, "output": url}, workers=1)
    with pytest.raises(RunFailed, match="not empty; pass --resume"):
        winnow.run({**recipe, "output": url}, workers=1)
    again = winnow.run({**recipe, "output": url}, workers=1, resume=True)
    assert again.stats["seconds"] == first.stats["seconds"]  # finished: read back, not rerun
    with s3.open("corpus/runs/rules/data/part-00000.jsonl.gz", "rb") as fh:
        before = gzip.decompress(fh.read())
    s3.rm("corpus/runs/rules/stats.json")  # as if the upload had been cut short
    winnow.run({**recipe, "output": url}, workers=1, resume=True)
    assert s3.exists("corpus/runs/rules/stats.json")
    changed = {**recipe, "stages": STAGES[:1]}
    redone = winnow.run({**changed, "output": url}, workers=1, overwrite=True)
    assert redone.stats["output_docs"] > first.stats["output_docs"]
    with s3.open("corpus/runs/rules/data/part-00000.jsonl.gz", "rb") as fh:
        assert gzip.decompress(fh.read()) != before
    s3.put_file(str(inputs / "c.parquet"), "corpus/other/c.parquet")
    with pytest.raises(RunFailed, match="holds no winnow run"):
        winnow.run({**recipe, "output": "s3://corpus/other"}, workers=1, overwrite=True)


def test_missing_url_inputs_and_filesystems_are_clear(s3, tmp_path):
    from winnow.recipe import RecipeError

    with pytest.raises(RecipeError, match="s3://corpus/nothing/: no such file"):
        winnow.run({"inputs": ["s3://corpus/nothing/"], "output": str(tmp_path / "o")})
    with pytest.raises(RecipeError, match="cannot open gs:// URLs: pip install gcsfs"):
        winnow.run({"inputs": ["gs://bucket/x.jsonl"], "output": str(tmp_path / "o")})


def test_s3_on_a_local_ray_cluster_equals_local(s3, inputs, tmp_path, monkeypatch):
    import ray

    monkeypatch.setenv("WINNOW_CACHE", str(tmp_path / "cache"))
    recipe = {"inputs": ["s3://corpus/in/"], "stages": STAGES}
    local = tmp_path / "local"
    winnow.run({**recipe, "output": str(local)}, workers=2)
    url = "s3://corpus/runs/ray"
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        winnow.run({**recipe, "output": url}, executor="ray")
    finally:
        ray.shutdown()
    assert _decisions(_download(s3, url, tmp_path / "downloaded")) == _decisions(local)
