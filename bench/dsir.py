"""DSIR side by side (run by hand, not a test): python bench/dsir.py [--docs 50000] [--runs 3]

Pool: paragraph-sized real text (200-3,000 characters) from ../shared/corpora except the
paper abstracts; target: 300 abstracts. Both tools fit the pool and target bag-of-n-gram
models, weight every pool document and keep the top tenth (``top_k``), each a whole run in
a fresh process per run (cold: interpreter, imports, read, fit, weigh, select, write),
pinned to one core, the tools interleaved: winnow's ``dsir`` stage (one worker, reading and
writing JSON Lines) as the ``winnow run`` command runs it and through ``winnow.run``
(``processes.run_recipe``), and the authors' ``data-selection`` package
(``HashedNgramDSIR``, num_proc=1, writing its selection); ``winnow-floor`` reads and writes
the pool with no stage, which bounds any ratio. Prints the medians of ``--runs``
whole-process seconds, docs/s, the ratio of the medians, each process's CPU seconds (user +
system, start-up included: steadier than wall time on a shared machine) and how many
selected documents agree. One untimed winnow run on the target first fills numba's on-disk
cache (compiled once per installation, like ``.pyc`` files).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from processes import interleaved, pinned_core, run_recipe  # noqa: E402

TOOLS = ["winnow", "winnow-api", "data-selection", "winnow-floor"]


def run_winnow(pool: Path, target: Path, work: Path, api: bool, floor: bool = False) -> None:
    stages = [] if floor else [{"dsir": {"target": str(target), "keep_fraction": 0.1,
                                         "top_k": True}}]  # fmt: skip
    run_recipe({"inputs": [str(pool)], "output": str(work / "winnow"), "stages": stages,
                "write": {"format": "jsonl"}}, api)  # fmt: skip


def run_reference(pool: Path, target: Path, work: Path, k: int) -> None:
    from data_selection import HashedNgramDSIR

    ref = HashedNgramDSIR(
        [str(pool)], [str(target)], cache_dir=str(work / "cache"), num_proc=1,
        min_example_length=0,
    )  # fmt: skip
    ref.fit_importance_estimator(num_tokens_to_fit="all")
    ref.compute_importance_weights()
    ref.resample(out_dir=str(work / "ref_out"), num_to_sample=k, top_k=True)


def child(tool: str, pool: Path, target: Path, work: Path, k: int) -> None:
    """One whole run of ``tool`` in this (fresh) process; its seconds as JSON on stdout."""
    t0 = time.perf_counter()
    if tool.startswith("winnow"):
        run_winnow(pool, target, work, api=tool == "winnow-api", floor=tool == "winnow-floor")
    else:
        run_reference(pool, target, work, k)
    seconds = time.perf_counter() - t0
    cpu = os.times()  # the whole process: start-up and imports too
    (work / "cpu.json").write_text(json.dumps(cpu.user + cpu.system + cpu.children_user
                                              + cpu.children_system))  # fmt: skip
    print(json.dumps({"seconds": seconds}))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=50_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--child", choices=TOOLS, help=argparse.SUPPRESS)
    ap.add_argument("--work", help=argparse.SUPPRESS)
    ap.add_argument("--pool", help=argparse.SUPPRESS)
    ap.add_argument("--target", help=argparse.SUPPRESS)
    ap.add_argument("--k", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, Path(args.pool), Path(args.target), Path(args.work), args.k)
        return

    import numpy as np
    import orjson
    from quality import paragraphs

    from tests.conftest import corpus_records, read_output

    scratch = Path(tempfile.mkdtemp(prefix="winnow-dsir-bench-"))
    try:
        abstracts = {r["text"] for r in corpus_records("abstracts")}
        pool = [p for p in paragraphs(10**9) if p not in abstracts][: args.docs]
        target = [r["text"] for r in corpus_records("abstracts", limit=300)]
        raw, goal = scratch / "data" / "pool.jsonl", scratch / "data" / "target.jsonl"
        raw.parent.mkdir()
        raw.write_bytes(
            b"".join(orjson.dumps({"id": f"d{i}", "text": t}) + b"\n" for i, t in enumerate(pool))
        )
        goal.write_bytes(b"".join(orjson.dumps({"text": t}) + b"\n" for t in target))
        k = round(0.1 * len(pool))
        selected: dict[str, set[int]] = {}
        cpu: dict[str, list[float]] = {tool: [] for tool in TOOLS}

        def collect(tool: str, work: Path) -> None:
            cpu[tool].append(json.loads((work / "cpu.json").read_text()))
            if tool == "winnow-floor":
                return
            if tool.startswith("winnow"):
                selected[tool] = {int(d["id"][1:]) for d in read_output(work / "winnow")}
                return
            parts = sorted(
                (work / "cache" / "log_importance_weights").glob("*.npy"),
                key=lambda p: int(p.stem),
            )
            weights = np.concatenate([np.load(p) for p in parts])
            selected[tool] = set(np.argsort(-weights, kind="stable")[:k].tolist())

        print(f"{len(pool):,} pool documents ({raw.stat().st_size / 1e6:.0f} MB JSON Lines), "
              f"300 target documents, keeping the top {k:,}; whole processes pinned to core "
              f"{pinned_core()}, interleaved, medians of {args.runs}")  # fmt: skip
        env = {**os.environ, "OMP_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1",
               "HF_HUB_OFFLINE": "1"}  # fmt: skip
        child_args = ["--pool", str(raw), "--target", str(goal), "--k", str(k)]
        warm = scratch / "warm-up"  # untimed: fills numba's on-disk cache if it is empty
        warm.mkdir()
        subprocess.run([sys.executable, __file__, "--child", "winnow", "--work", str(warm),
                        "--pool", str(goal), "--target", str(goal), "--k", "30"],
                       check=True, capture_output=True, env=env)  # fmt: skip
        tools = TOOLS
        walls, inner = interleaved(__file__, tools, args.runs, scratch, child_args, collect, env)
        print(f"{'tool':<16}{'docs/s':>10}{'process s':>11}{'in-process s':>14}{'CPU s':>8}")
        for tool in tools:
            wall, pipe = statistics.median(walls[tool]), statistics.median(inner[tool])
            print(f"{tool:<16}{len(pool) / wall:>10,.0f}{wall:>11.2f}{pipe:>14.2f}"
                  f"{statistics.median(cpu[tool]):>8.2f}")  # fmt: skip
        for tool, how in (("winnow", "`winnow run`"), ("winnow-api", "winnow.run")):
            ratio = statistics.median(walls["data-selection"]) / statistics.median(walls[tool])
            cpu_ratio = statistics.median(cpu["data-selection"]) / statistics.median(cpu[tool])
            print(f"winnow / data-selection ({how}): {ratio:.1f}x docs/s (ratio of the median "
                  f"whole-process seconds), {cpu_ratio:.1f}x CPU seconds (user + system)")
        floor = statistics.median(walls["winnow-floor"])
        limit = statistics.median(walls["data-selection"]) / floor
        print(f"winnow-floor is `winnow run` with no stage (read, id check, write): {limit:.1f}x "
              "data-selection is the most any dsir could reach here")  # fmt: skip
        runs = "; ".join(f"{t} " + ", ".join(f"{s:.2f}" for s in walls[t]) for t in tools)
        print(f"each run's seconds: {runs}")
        same = len(selected["winnow"] & selected["data-selection"])
        print(f"same selected documents: {same:,} of {k:,} ({same / k:.4f})")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
