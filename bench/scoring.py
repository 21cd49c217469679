"""Model stages on every worker (run by hand, not a test):
python bench/scoring.py [--docs 20000] [--runs 3]

Documents: ``docs`` man pages (all of them: 20k, 97 MB) and paper abstracts in 8 JSONL
files. Recipe: normalize, exact_dedup, quality_classifier (positives: 2,000 abstracts,
keep 0.8), perplexity (target: the same abstracts, keep 0.8). Each run is a fresh ``winnow
run`` process, at 1 and 2 workers; prints the wall time (median of ``runs``), the speed-up,
and the seconds of each phase (a model stage's reduce: fit, then scoring as worker tasks).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def build(work: Path, docs: int) -> tuple[str, str]:
    from tests.conftest import corpus_records

    abstracts = corpus_records("abstracts")
    target = work / "target.jsonl"
    with open(target, "w") as fh:
        for r in abstracts[:2000]:
            fh.write(json.dumps({"text": r["text"]}) + "\n")
    pool = [r["text"] for r in abstracts[2000:]]
    pool += [r["text"] for r in corpus_records("manpages", docs)]
    print(f"{len(pool):,} documents, {sum(len(t.encode()) for t in pool) / 1e6:.0f} MB")
    for k in range(8):
        with open(work / f"pool-{k}.jsonl", "w") as fh:
            for i, text in enumerate(pool[k::8]):
                fh.write(json.dumps({"id": f"{k}-{i}", "text": text}) + "\n")
    return str(work / "pool-*.jsonl"), str(target)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=20_000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="winnow-scoring-bench-"))
    pool, target = build(work, args.docs)
    stages = [
        {"normalize": {}},
        {"exact_dedup": {}},
        {"quality_classifier": {"positives": target, "keep_fraction": 0.8}},
        {"perplexity": {"target": target, "keep_fraction": 0.8}},
    ]
    recipe = work / "recipe.yaml"
    read = {"shard_mb": 8}  # a task per file
    recipe.write_text(yaml.safe_dump({"inputs": [pool], "stages": stages, "read": read}))
    times: dict[int, list[float]] = {1: [], 2: []}
    phases: dict[int, dict] = {}
    for _ in range(args.runs):
        for workers in (1, 2):
            out = work / f"out-{workers}"
            shutil.rmtree(out, ignore_errors=True)
            cmd = [sys.executable, "-m", "winnow.cli", "run", str(recipe), "-o", str(out),
                   "--workers", str(workers)]  # fmt: skip
            t0 = time.perf_counter()
            subprocess.run(cmd, check=True, capture_output=True, cwd=ROOT)
            times[workers].append(time.perf_counter() - t0)
            phases[workers] = json.loads((out / "stats.json").read_text())["phase_seconds"]
    for workers in (1, 2):
        model = phases[workers]
        print(f"{workers} worker(s): {statistics.median(times[workers]):.2f} s; {model}")
    speedup = statistics.median(times[1]) / statistics.median(times[2])
    print(f"speed-up at 2 workers {speedup:.2f}x")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
