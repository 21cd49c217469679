"""DSIR side by side (run by hand, not a test): python bench/dsir.py [--docs N] [--runs 3]

Pool: paragraph-sized real text (200-3,000 characters) from ../shared/corpora except the
paper abstracts; target: 300 abstracts. Both tools fit the pool and target bag-of-n-gram
models, weight every pool document and keep the top tenth (``top_k``), one core each:
winnow's ``dsir`` stage through ``winnow.run`` (workers=1, reading and writing JSON Lines)
and the authors' ``data-selection`` package (``HashedNgramDSIR``, num_proc=1, writing its
selection). Prints docs/s, the ratio and how many selected documents agree.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    from data_selection import HashedNgramDSIR
    from quality import paragraphs

    import winnow
    from tests.conftest import corpus_records, read_output

    work = Path(tempfile.mkdtemp(prefix="winnow-dsir-bench-"))
    try:
        abstracts = {r["text"] for r in corpus_records("abstracts")}
        pool = [p for p in paragraphs(10**9) if p not in abstracts][: args.docs]
        target = [r["text"] for r in corpus_records("abstracts", limit=300)]
        raw, goal = work / "pool.jsonl", work / "target.jsonl"
        raw.write_text(
            "".join(json.dumps({"id": f"d{i}", "text": t}) + "\n" for i, t in enumerate(pool))
        )
        goal.write_text("".join(json.dumps({"text": t}) + "\n" for t in target))
        k = len(pool) // 10
        print(f"{len(pool):,} pool documents, 300 target documents, keeping {k:,}; one core each")

        def run_winnow() -> float:
            shutil.rmtree(work / "winnow", ignore_errors=True)
            t0 = time.perf_counter()
            winnow.run(
                {
                    "inputs": [str(raw)],
                    "output": str(work / "winnow"),
                    "stages": [{"dsir": {"target": str(goal), "keep_top_k": k, "top_k": True}}],
                    "write": {"format": "jsonl"},
                },
                workers=1,
            )
            return time.perf_counter() - t0

        def run_reference() -> float:
            shutil.rmtree(work / "cache", ignore_errors=True)
            shutil.rmtree(work / "ref_out", ignore_errors=True)
            t0 = time.perf_counter()
            ref = HashedNgramDSIR(
                [str(raw)], [str(goal)], cache_dir=str(work / "cache"), num_proc=1,
                min_example_length=0,
            )  # fmt: skip
            ref.fit_importance_estimator(num_tokens_to_fit="all")
            ref.compute_importance_weights()
            ref.resample(out_dir=str(work / "ref_out"), num_to_sample=k, top_k=True)
            return time.perf_counter() - t0

        pairs = [(run_winnow(), run_reference()) for _ in range(args.runs)]
        ours_s = statistics.median(a for a, _ in pairs)
        theirs_s = statistics.median(b for _, b in pairs)
        ratio = statistics.median(b / a for a, b in pairs)
        ours = {int(d["id"][1:]) for d in read_output(work / "winnow")}
        parts = sorted(
            (work / "cache" / "log_importance_weights").glob("*.npy"), key=lambda p: int(p.stem)
        )
        weights = np.concatenate([np.load(p) for p in parts])
        theirs = set(np.argsort(-weights, kind="stable")[:k].tolist())

        print(f"{'tool':<16}{'docs/s':>10}{'seconds':>10}   (medians of {args.runs} runs)")
        print(f"{'winnow':<16}{len(pool) / ours_s:>10,.0f}{ours_s:>10.1f}")
        print(f"{'data-selection':<16}{len(pool) / theirs_s:>10,.0f}{theirs_s:>10.1f}")
        print(f"winnow / data-selection: {ratio:.1f}x docs/s (median of paired runs)")
        print(f"same selected documents: {len(ours & theirs) / k:.3f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
