"""Dedup against a reference index (run by hand, not a test):

    python bench/reference_dedup.py [--reference 1000000] [--docs 500000] [--stage minhash_dedup]

Builds a reference corpus and a new corpus from ``bench/minhash.py``'s paragraph corpus
(real text from ../shared/corpora; beyond the distinct paragraphs, near copies), the new one
from another seed, so that most of its documents repeat or nearly repeat a reference one.
Each step is a fresh process on one core (``workers=1``): the reference run leaving its index
(``index: true``); the new run against that index (``reference:`` its output folder); the new
run against the reference's input file (hashed again, for comparison). Prints seconds, docs/s
of the new run, peak RSS of the process and how many documents the reference removed.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def child(stage: str, corpus: str, out: str, params: str) -> None:
    from minhash import peak_rss_mb

    import winnow

    t0 = time.perf_counter()
    result = winnow.run({"inputs": [corpus], "output": out,
                         "stages": [{stage: json.loads(params)}],
                         "write": {"format": "jsonl"}}, workers=1)  # fmt: skip
    seconds = time.perf_counter() - t0
    stats = result.stats if hasattr(result, "stats") else result["stats"]
    removed = stats["input_docs"] - stats["output_docs"]
    print(json.dumps({"seconds": seconds, "removed": removed, "peak_rss_mb": peak_rss_mb()}))


def step(stage: str, corpus: Path, out: Path, params: dict) -> dict:
    cmd = [sys.executable, __file__, "--child", stage, str(corpus), str(out), json.dumps(params)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode:
        raise SystemExit(f"{stage} {params}: failed\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reference", type=int, default=1_000_000)
    ap.add_argument("--docs", type=int, default=500_000)
    ap.add_argument("--stage", default="minhash_dedup",
                    choices=["exact_dedup", "minhash_dedup"])  # fmt: skip
    ap.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(*args.child)
        return
    from minhash import build_corpus

    work = Path(tempfile.mkdtemp(prefix="winnow-reference-bench-"))
    try:
        reference, new = work / "reference.jsonl", work / "new.jsonl"
        build_corpus(reference, args.reference, seed=0)
        build_corpus(new, args.docs, seed=1)
        mb = (reference.stat().st_size / 1e6, new.stat().st_size / 1e6)
        print(f"{args.stage}: reference {args.reference:,} documents ({mb[0]:.0f} MB), "
              f"new run {args.docs:,} ({mb[1]:.0f} MB); one core, fresh processes")  # fmt: skip
        rows = [
            ("reference run, index: true",
             step(args.stage, reference, work / "ref", {"index": True}), args.reference),
            ("new run against the index",
             step(args.stage, new, work / "a", {"reference": str(work / "ref")}), args.docs),
            ("new run against the input file",
             step(args.stage, new, work / "b", {"reference": str(reference)}), args.docs),
            ("new run alone", step(args.stage, new, work / "c", {}), args.docs),
        ]  # fmt: skip
        print(f"{'step':<34}{'seconds':>9}{'docs/s':>10}{'peak RSS MB':>13}{'removed':>10}")
        for name, r, n in rows:
            print(f"{name:<34}{r['seconds']:>9.1f}{n / r['seconds']:>10,.0f}"
                  f"{r['peak_rss_mb']:>13,.0f}{r['removed']:>10,}")  # fmt: skip
        index, files = rows[1][1]["seconds"], rows[2][1]["seconds"]
        print(f"index reuse saves {1 - index / files:.0%} of the run against the input file")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
