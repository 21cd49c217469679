"""Decontamination speed (run by hand, not a test):
python bench/decontaminate.py [--docs 40000] [--items 10000] [--runs 3]

Benchmark: ``items`` question/answer pairs (30 + 9 words) cut from paper abstracts and
UDHR paragraphs. Documents: 1 KB windows of the man pages and licences, 1% with a planted
question stretch. One core. Prints the time to build the index (and to load it from the
cache), documents per second (median of ``runs``) and how many planted documents were found.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=40_000)
    ap.add_argument("--items", type=int, default=10_000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="winnow-decontam-bench-"))
    os.environ["WINNOW_CACHE"] = str(work / "cache")
    import numpy as np
    import pyarrow as pa
    from quality import kilobyte_windows

    from tests.conftest import corpus_records
    from winnow.stages import decontaminate as module
    from winnow.stages.decontaminate import Decontaminate

    items = []
    sources = [r["text"] for r in corpus_records("abstracts")]
    for r in corpus_records("udhr"):
        sources += r["text"].split("\n")
    for text in sources:  # every 39 words of a text: a 30-word question, a 9-word answer
        words = text.split()
        for at in range(0, len(words) - 38, 39):
            question, answer = words[at : at + 30], words[at + 30 : at + 39]
            items.append({"question": " ".join(question), "answer": " ".join(answer)})
    items = items[: args.items]
    bench = work / "bench.jsonl"
    bench.write_text("".join(json.dumps(i) + "\n" for i in items))
    per = args.docs // 2
    docs = [w for name in ("manpages", "copyright") for w in kilobyte_windows(name, per)]
    rng = np.random.default_rng(0)
    planted = rng.choice(len(docs), len(docs) // 100, replace=False)
    for k, row in enumerate(planted.tolist()):
        stretch = " ".join(items[k % len(items)]["question"].split()[:20])
        docs[row] = docs[row][:500] + " " + stretch + " " + docs[row][500:]
    batches = pa.table({"text": docs}).to_batches(max_chunksize=4096)
    stage = Decontaminate(Decontaminate.ParamsModel(benchmarks=[str(bench)]))

    t0 = time.perf_counter()
    stage.process(batches[0])
    build = time.perf_counter() - t0
    module.benchmark_index.cache_clear()
    t0 = time.perf_counter()
    stage.process(batches[0])
    load = time.perf_counter() - t0

    def one_pass() -> tuple[float, int]:
        t0 = time.perf_counter()
        removed = sum(int(stage.process(b).reason.null_count) for b in batches)
        return time.perf_counter() - t0, len(docs) - removed

    passes = [one_pass() for _ in range(args.runs)]
    seconds = statistics.median(s for s, _ in passes)
    print(f"{len(items):,} benchmark items, {len(docs):,} documents of ~1 KB, one core")
    print(f"index: built in {build:.2f} s, loaded from the cache in {load:.2f} s")
    print(f"decontaminate: {len(docs) / seconds:,.0f} docs/s (median of {args.runs})")
    print(f"found {passes[0][1]:,} contaminated documents; planted {len(planted):,}")


if __name__ == "__main__":
    main()
