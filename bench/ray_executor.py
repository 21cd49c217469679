"""The same recipe on the local executor and on a local Ray cluster, 2 workers each (run by
hand, not a test): python bench/ray_executor.py [--docs 20000] [--runs 3]

Documents: man pages (first 3,000 characters), split over 8 files. Recipe: normalize,
gopher_quality, gopher_repetition, exact_dedup, minhash_dedup. Prints docs/s of each
(median of ``runs``), Ray's overhead, the time of each reduce phase (its tasks on the pool or
the cluster), and the bytes each key shuffle wrote per document, scaled to 10^9 documents.
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
    reduce: dict[str, dict[str, list[float]]] = {"local": {}, "ray": {}}
    shuffled: dict[str, int] = {}
    for _ in range(args.runs):
        for executor in ("local", "ray"):
            out = work / executor
            shutil.rmtree(out, ignore_errors=True)
            t0 = time.perf_counter()
            result = winnow.run({**recipe, "output": str(out)}, workers=2, executor=executor)
            times[executor].append(time.perf_counter() - t0)
            for phase, seconds in result.stats["phase_seconds"].items():
                if phase.startswith("reduce"):
                    reduce[executor].setdefault(phase, []).append(seconds)
            shuffled = result.stats["shuffled_bytes"]
            docs = result.stats["input_docs"]
            stage_docs = {f"{i - 1:02d}-{st['name']}": st["docs_in"]
                          for i, st in enumerate(result.stats["stages"])}  # fmt: skip
    ray.shutdown()
    for executor in ("local", "ray"):
        t = statistics.median(times[executor])
        print(f"{executor:<6} {docs / t:>9,.0f} docs/s  ({t:.2f} s)")
    ratio = statistics.median(b / a for a, b in zip(times["local"], times["ray"]))
    print(f"Ray / local time: {ratio:.2f} (median of paired runs; a cluster already running,")
    print("whose worker processes, and their token caches, outlive each run)")
    print("reduce phases (median s, local / ray):")
    for phase in reduce["local"]:
        a, b = (statistics.median(reduce[e][phase]) for e in ("local", "ray"))
        print(f"  {phase:<24} {a:6.2f} / {b:6.2f}")
    print("key shuffle (bytes per document entering the stage), and scaled to 10^9 documents")
    print("on 100 nodes:")
    for stage, size in shuffled.items():
        per_doc = size / stage_docs[stage]
        total = per_doc * 1e9
        print(f"  {stage:<18} {per_doc:6.1f} bytes/doc  -> {total / 1e9:6.1f} GB in all, "
              f"{total / 100 / 1e9:5.2f} GB per node")  # fmt: skip
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
