"""MinHash dedup side by side (run by hand, not a test):

    python bench/minhash.py [--docs 50000] [--runs 3] [--tools winnow,rensa,datatrove]
        [--text-dedup PYTHON]
    python bench/minhash.py --docs 1000000 --runs 1 --tools winnow,rensa

Corpus: paragraph-sized real text (200-3,000 characters) from ../shared/corpora, shuffled
with a seed; above the number of distinct paragraphs, copies with a few words changed. Every
tool runs as a fresh process per run (start-up and imports included), pinned to one core,
the tools interleaved, with the same parameters (word 5-grams, 14 bands x 8 rows = 112
permutations): winnow's ``minhash_dedup`` end to end (workers=1: read, signatures, buckets,
verification, write) as the ``winnow run`` command runs it (``winnow``) or through
``winnow.run`` (``winnow-api``; ``processes.run_recipe``), rensa's signatures alone
(``RMinHash``, no dedup), datatrove's four MinHash stages (signature, buckets, cluster,
filter; LocalPipelineExecutor, workers=1) and, given a Python that has it installed,
text-dedup's ``text_dedup.minhash``. Prints docs/s from the median wall time of each tool,
peak RSS (of the process and its children), how many documents each removed and winnow's
ratio to each.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from processes import interleaved, pinned_core, run_recipe  # noqa: E402


def build_corpus(path: Path, n_docs: int, seed: int = 0) -> None:
    from quality import paragraphs

    base = paragraphs(10**9, seed)
    rng = random.Random(seed)
    with open(path, "wb") as fh:
        for i in range(n_docs):
            text = base[i % len(base)]
            if i >= len(base):  # a near copy: a few words replaced
                words = text.split(" ")
                for _ in range(rng.randint(1, 3)):
                    words[rng.randrange(len(words))] = f"w{rng.randrange(10**6)}"
                text = " ".join(words)
            fh.write(orjson.dumps({"id": f"d{i}", "text": text}) + b"\n")


def peak_rss_mb() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) / 1024


def run_winnow(corpus: Path, work: Path, api: bool = False) -> dict:
    t0 = time.perf_counter()
    stats = run_recipe({"inputs": [str(corpus)], "output": str(work / "winnow"),
                        "stages": [{"minhash_dedup": {}}], "write": {"format": "jsonl"}},
                       api)  # fmt: skip
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "removed": stats["input_docs"] - stats["output_docs"]}


def run_datatrove(corpus: Path, work: Path) -> dict:
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.dedup import MinhashDedupSignature
    from datatrove.pipeline.dedup.minhash import (
        MinhashConfig,
        MinhashDedupBuckets,
        MinhashDedupCluster,
        MinhashDedupFilter,
    )
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.writers.jsonl import JsonlWriter
    from loguru import logger

    logger.remove()
    config = MinhashConfig(n_grams=5, num_buckets=14, hashes_per_bucket=8)
    base = work / "datatrove"
    reader = JsonlReader(str(corpus.parent), glob_pattern=corpus.name)
    t0 = time.perf_counter()
    for pipeline, tasks in (
        ([reader, MinhashDedupSignature(output_folder=str(base / "sigs"), config=config)], 1),
        (
            [
                MinhashDedupBuckets(
                    input_folder=str(base / "sigs"),
                    output_folder=str(base / "buckets"),
                    config=config,
                )
            ],
            config.num_buckets,
        ),
        (
            [
                MinhashDedupCluster(
                    input_folder=str(base / "buckets"),
                    output_folder=str(base / "remove_ids"),
                    config=config,
                )
            ],
            1,
        ),
        (
            [
                JsonlReader(str(corpus.parent), glob_pattern=corpus.name),
                MinhashDedupFilter(
                    input_folder=str(base / "remove_ids"),
                    exclusion_writer=JsonlWriter(str(base / "removed")),
                ),
                JsonlWriter(str(base / "output")),
            ],
            1,
        ),
    ):
        LocalPipelineExecutor(
            pipeline=pipeline,
            tasks=tasks,
            workers=1,
            logging_dir=str(base / f"logs{len(str(tasks))}-{id(pipeline)}"),
        ).run()
    seconds = time.perf_counter() - t0
    removed = sum(1 for f in (base / "removed").glob("*.jsonl*") for _ in _lines(f))
    return {"seconds": seconds, "removed": removed}


def _lines(path: Path):
    import gzip

    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as fh:
        yield from fh


def run_text_dedup(python: str, corpus: Path, work: Path) -> dict:
    out = work / "text_dedup"
    cmd = [
        python, "-m", "text_dedup.minhash",
        "--path", "json", "--data_files", str(corpus), "--split", "train",
        "--cache_dir", str(work / "hf_cache"), "--output", str(out),
        "--column", "text", "--num_perm", "112", "--b", "14", "--r", "8", "--ngram", "5",
        "--threshold", "0.7", "--batch_size", "10000", "--num_proc", "1",
    ]  # fmt: skip
    t0 = time.perf_counter()
    proc = subprocess.run(
        cmd, capture_output=True, text=True, env={**os.environ, "HF_DATASETS_OFFLINE": "1"}
    )
    seconds = time.perf_counter() - t0
    if proc.returncode:
        raise RuntimeError(proc.stderr[-3000:])
    from datasets import load_from_disk

    kept = len(load_from_disk(str(out)))
    total = sum(1 for _ in _lines(corpus))
    return {"seconds": seconds, "removed": total - kept}


def run_rensa(corpus: Path, work: Path) -> dict:
    """rensa's MinHash signatures alone: read, lower-case, word 5-gram shingles, 112
    permutations (RMinHash), no buckets and no dedup."""
    from rensa import RMinHash

    t0 = time.perf_counter()
    signatures = 0
    with open(corpus, "rb") as fh:
        for line in fh:
            words = orjson.loads(line)["text"].lower().split()
            shingles = [" ".join(words[i : i + 5]) for i in range(max(len(words) - 4, 1))]
            m = RMinHash(num_perm=112, seed=42)
            m.update(shingles)
            signatures += len(m.digest()) == 112
    return {"seconds": time.perf_counter() - t0, "removed": 0, "signatures": signatures}


def child(tool: str, corpus: Path, work: Path, python: str | None) -> None:
    """Run one tool in this process; its figures go to ``work/result.json`` and stdout."""
    runners = {"winnow": run_winnow, "winnow-api": partial(run_winnow, api=True),
               "datatrove": run_datatrove, "rensa": run_rensa}  # fmt: skip
    if tool in runners:
        result = runners[tool](corpus, work)
    else:
        result = run_text_dedup(python, corpus, work)
    result["peak_rss_mb"] = peak_rss_mb()
    (work / "result.json").write_text(json.dumps(result))
    print(json.dumps(result))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=50_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--tools", default="winnow,rensa,datatrove",
                    help="comma-separated: winnow (the `winnow run` command), winnow-api "
                    "(winnow.run), rensa, datatrove, text_dedup")  # fmt: skip
    ap.add_argument("--text-dedup", dest="text_dedup", help="a Python with text-dedup installed")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--work", help=argparse.SUPPRESS)
    ap.add_argument("--corpus", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, Path(args.corpus), Path(args.work), args.text_dedup)
        return
    scratch = Path(tempfile.mkdtemp(prefix="winnow-minhash-bench-"))
    try:
        corpus = scratch / "corpus.jsonl"
        build_corpus(corpus, args.docs)
        size = corpus.stat().st_size / 1e6
        tools = args.tools.split(",")
        print(f"{args.docs:,} documents, {size:.0f} MB of JSON Lines; each tool a fresh "
              f"process on core {pinned_core()}, {args.runs} interleaved runs")  # fmt: skip
        figures: dict[str, list[dict]] = {t: [] for t in tools}

        def collect(tool: str, work: Path) -> None:
            figures[tool].append(json.loads((work / "result.json").read_text()))

        extra = ["--corpus", str(corpus)] + (
            ["--text-dedup", args.text_dedup] if args.text_dedup else []
        )
        walls, _ = interleaved(__file__, tools, args.runs, scratch, extra, collect)
        print(f"{'tool':<12}{'docs/s':>10}{'MB/s':>8}{'process s':>11}{'peak RSS MB':>13}"
              f"{'removed':>10}")  # fmt: skip
        wall = {t: statistics.median(walls[t]) for t in tools}
        for tool in tools:
            r = figures[tool][-1]
            print(f"{tool:<12}{args.docs / wall[tool]:>10,.0f}{size / wall[tool]:>8.1f}"
                  f"{wall[tool]:>11.2f}{r['peak_rss_mb']:>13,.0f}{r['removed']:>10,}")  # fmt: skip
        for ours in ("winnow", "winnow-api"):
            for tool in tools:
                if ours in tools and not tool.startswith("winnow"):
                    print(f"{ours} / {tool}: {wall[tool] / wall[ours]:.2f}x docs/s "
                          "(whole processes, medians)")  # fmt: skip
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
