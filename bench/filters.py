"""field_filter and url_filter on one core (run by hand, not a test):
python bench/filters.py [--docs 1000000] [--runs 3]

Documents: the Debian copyright files' upstream URLs and packages, and man pages' sections
and names, cycled to ``--docs`` records with real metadata (the text is a short paragraph:
these filters read only fields). Each stage runs on Arrow batches of 8,192 documents in this
process; prints docs/s (median of ``--runs``) and what each removed.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

import orjson
import pyarrow as pa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.conftest import corpus_records  # noqa: E402
from winnow.api import make_stage  # noqa: E402


def records(n: int) -> list[dict]:
    base = []
    for r in corpus_records("copyright"):
        found = re.search(r"^Source:\s*(https?://\S+)", r["text"], re.M)
        if found:
            base.append({"url": found.group(1), "package": r["meta"]["package"]})
    for r in corpus_records("manpages", 5000):
        m = r["meta"]
        base.append({"url": f"https://manpages.debian.org/{m['package']}/{m['name']}",
                     "section": m["section"], "package": m["package"]})  # fmt: skip
    return [base[i % len(base)] for i in range(n)]


def batches(metas: list[dict], size: int = 8192) -> list[pa.RecordBatch]:
    out = []
    for i in range(0, len(metas), size):
        chunk = metas[i : i + size]
        out.append(pa.RecordBatch.from_pydict({
            "id": [f"d{i + k}" for k in range(len(chunk))],
            "text": ["a short paragraph of text"] * len(chunk),
            "meta": [orjson.dumps(m).decode() for m in chunk],
        }))  # fmt: skip
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    data = batches(records(args.docs))
    lists = Path(tempfile.mkdtemp(prefix="winnow-filters-bench-"))
    (lists / "blocked.txt").write_text("github.com\nsourceforge.net\n")
    stages = {
        "field_filter": make_stage("field_filter", keep={"any": [
            {"field": "meta.section", "in": ["1", "8"]},
            {"all": [{"field": "meta.package", "regex": "^lib"},
                     {"field": "meta.url", "exists": True}]},
        ]}),  # fmt: skip
        "url_filter": make_stage("url_filter", block_domains=str(lists / "blocked.txt"),
                                 banned_words_soft=["perl", "python", "lib"]),  # fmt: skip
    }
    print(f"{args.docs:,} documents, one core, batches of 8,192")
    for name, stage in stages.items():
        times, removed = [], 0
        for _ in range(args.runs):
            t0 = time.perf_counter()
            removed = 0
            for b in data:
                result = stage.process(b)
                removed += len(result.reason) - result.reason.null_count
            times.append(time.perf_counter() - t0)
        t = statistics.median(times)
        print(f"{name:<14} {args.docs / t:>12,.0f} docs/s   removed {removed:,}")


if __name__ == "__main__":
    main()
