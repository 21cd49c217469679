"""The same recipe on the local executor and on a local Ray cluster, 2 workers each (run by
hand, not a test): python bench/ray_executor.py [--docs 20000] [--runs 3]

Documents: man pages (first 3,000 characters), split over 8 files. Recipe: normalize,
gopher_quality, gopher_repetition, exact_dedup, minhash_dedup. Prints docs/s of each
(median of ``runs``), Ray's overhead, and the time of the reduce phases (on the driver in
both executors).
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=20_000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    import ray

    import winnow
    from tests.conftest import corpus_records

    work = Path(tempfile.mkdtemp(prefix="winnow-ray-bench-"))
    records = corpus_records("manpages", args.docs)
    for k in range(8):
        with open(work / f"in-{k}.jsonl", "w") as fh:
            for r in records[k::8]:
                fh.write(json.dumps({"id": r["id"], "text": r["text"][:3000]}) + "\n")
    stages = [{"normalize": {}}, {"gopher_quality": {}}, {"gopher_repetition": {}},
              {"exact_dedup": {}}, {"minhash_dedup": {}}]  # fmt: skip
    recipe = {"inputs": [str(work / "in-*.jsonl")], "stages": stages}
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    times = {"local": [], "ray": []}
    reduce = {"local": [], "ray": []}
    for _ in range(args.runs):
        for executor in ("local", "ray"):
            out = work / executor
            shutil.rmtree(out, ignore_errors=True)
            t0 = time.perf_counter()
            result = winnow.run({**recipe, "output": str(out)}, workers=2, executor=executor)
            times[executor].append(time.perf_counter() - t0)
            phases = result.stats.get("phase_seconds", {})
            reduce[executor].append(sum(v for k, v in phases.items() if k.startswith("reduce")))
    ray.shutdown()
    n = len(records)
    for executor in ("local", "ray"):
        t = statistics.median(times[executor])
        print(f"{executor:<6} {n / t:>9,.0f} docs/s  ({t:.2f} s; reduce phases "
              f"{statistics.median(reduce[executor]):.2f} s)")  # fmt: skip
    ratio = statistics.median(b / a for a, b in zip(times["local"], times["ray"]))
    print(f"Ray / local time: {ratio:.2f} (median of paired runs; a cluster already running)")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
