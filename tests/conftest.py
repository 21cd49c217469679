from __future__ import annotations

import gzip
import hashlib
import os
from pathlib import Path

import orjson
import pytest


def _find_corpora() -> Path:
    """``../shared/corpora`` beside the project root (or $WINNOW_CORPORA)."""
    candidates = [
        os.environ.get("WINNOW_CORPORA"),
        Path(__file__).resolve().parents[2] / "shared" / "corpora",
        Path.cwd().parent / "shared" / "corpora",
        Path("/work/shared/corpora"),
    ]
    for c in candidates:
        if c and (Path(c) / "abstracts.jsonl.gz").exists():
            return Path(c)
    raise RuntimeError("the shared corpora were not found; set WINNOW_CORPORA")


CORPORA = _find_corpora()
os.environ.setdefault("WINNOW_CORPORA", str(CORPORA))  # for tests/tiny_lm.py


@pytest.fixture(scope="session")
def tiny_model() -> Path:
    """A tiny Llama model trained here (tests/tiny_lm.py), built once per machine."""
    from tiny_lm import cached_model

    root = Path(os.environ.get("WINNOW_TEST_CACHE") or Path.home() / ".cache" / "winnow-tests")
    root.mkdir(parents=True, exist_ok=True)
    return cached_model(root)


def corpus_records(name: str, limit: int | None = None) -> list[dict]:
    out = []
    with gzip.open(CORPORA / f"{name}.jsonl.gz", "rb") as fh:
        for line in fh:
            out.append(orjson.loads(line))
            if limit is not None and len(out) >= limit:
                break
    return out


def write_jsonl(path: Path, records: list[dict]) -> Path:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wb") as fh:
        for r in records:
            fh.write(orjson.dumps(r) + b"\n")
    return path


def read_output(out: Path) -> list[dict]:
    """Every kept document of a finished run, in part order."""
    docs = []
    for part in sorted((out / "data").glob("part-*")):
        if part.suffix == ".parquet":
            import pyarrow.parquet as pq

            rows = pq.read_table(part).to_pylist()
            docs += [{**r, "meta": orjson.loads(r["meta"])} for r in rows]  # meta is JSON text
        else:
            from winnow.io.compression import open_binary

            with open_binary(part) as fh:
                docs += [orjson.loads(line) for line in fh]
    return docs


def read_ledger(out: Path) -> list[dict]:
    import pyarrow.parquet as pq

    rows = []
    for part in sorted((out / "ledger").glob("*.parquet")):
        rows += pq.read_table(part).to_pylist()
    return rows


def tree_digest(out: Path) -> dict[str, str]:
    """sha256 of every file under data/ and ledger/ (what must be byte-identical)."""
    return {
        str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest()
        for sub in ("data", "ledger")
        for p in sorted((out / sub).rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="session")
def manpage_shards(tmp_path_factory) -> Path:
    """3,000 real man pages split into 12 gzipped JSONL files (one shard each)."""
    folder = tmp_path_factory.mktemp("manpages")
    records = corpus_records("manpages", limit=3000)
    for i in range(12):
        write_jsonl(folder / f"man-{i:02d}.jsonl.gz", records[i::12])
    return folder


def run_two_ways(tmp_path: Path, files: list[Path], stages: list[dict]) -> list[Path]:
    """Run ``stages`` over ``files`` with one worker and large shards, then with two workers
    and tiny shards; the two output folders (results must not depend on either)."""
    import winnow

    outputs = []
    for workers, shard_mb in ((1, 32), (2, 0.05)):
        out = tmp_path / f"out-{workers}"
        recipe = {
            "inputs": [str(f) for f in files],
            "output": str(out),
            "stages": stages,
            "read": {"shard_mb": shard_mb},
        }
        winnow.run(recipe, workers=workers)
        outputs.append(out)
    return outputs


def selected_two_ways(tmp_path: Path, texts: list[str], stage: dict, parts: int = 3):
    """Documents ``d{i}`` split round-robin over ``parts`` files, run through ``stage`` both
    ways of ``run_two_ways``: (the kept ids of each run, sorted; the output folders)."""
    records = [{"id": f"d{i}", "text": t} for i, t in enumerate(texts)]
    files = [write_jsonl(tmp_path / f"in{k}.jsonl", records[k::parts]) for k in range(parts)]
    outputs = run_two_ways(tmp_path, files, [stage])
    return [sorted(d["id"] for d in read_output(out)) for out in outputs], outputs
