"""MinHash dedup side by side (run by hand, not a test):

    python bench/minhash.py [--docs 100000] [--text-dedup PYTHON]
    python bench/minhash.py --docs 2000000 --only winnow      # the memory figure

Corpus: paragraph-sized real text (200-3,000 characters) from ../shared/corpora, shuffled
with a seed; above the number of distinct paragraphs, copies with a few words changed. Every
tool runs in its own process on one core with the same parameters (word 5-grams, 14 bands x
8 rows): winnow's ``minhash_dedup`` (workers=1), datatrove's four MinHash stages
(signature, buckets, cluster, filter; LocalPipelineExecutor, workers=1) and, given a Python
that has it installed, text-dedup's ``text_dedup.minhash``. Prints docs/s, peak RSS (of the
process and its children) and how many documents each removed.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


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


def run_winnow(corpus: Path, work: Path) -> dict:
    import winnow

    t0 = time.perf_counter()
    result = winnow.run(
        {
            "inputs": [str(corpus)],
            "output": str(work / "winnow"),
            "stages": [{"minhash_dedup": {}}],
            "write": {"format": "jsonl"},
        },
        workers=1,
    )
    seconds = time.perf_counter() - t0
    stats = result.stats if hasattr(result, "stats") else result["stats"]
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


def child(tool: str, corpus: Path, work: Path, python: str | None) -> None:
    """Run one tool in this process and print its figures as JSON."""
    if tool == "winnow":
        result = run_winnow(corpus, work)
    elif tool == "datatrove":
        result = run_datatrove(corpus, work)
    else:
        result = run_text_dedup(python, corpus, work)
    result["peak_rss_mb"] = peak_rss_mb()
    print(json.dumps(result))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=100_000)
    ap.add_argument("--only", choices=["winnow", "datatrove", "text_dedup"])
    ap.add_argument("--text-dedup", dest="text_dedup", help="a Python with text-dedup installed")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--work", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, Path(args.work) / "corpus.jsonl", Path(args.work), args.text_dedup)
        return
    work = Path(tempfile.mkdtemp(prefix="winnow-minhash-bench-"))
    try:
        corpus = work / "corpus.jsonl"
        build_corpus(corpus, args.docs)
        size = corpus.stat().st_size / 1e6
        print(f"{args.docs:,} documents, {size:.0f} MB of JSON Lines; one core per tool")
        tools = ["winnow", "datatrove"] + (["text_dedup"] if args.text_dedup else [])
        if args.only:
            tools = [args.only]
        results = {}
        for tool in tools:
            cmd = [sys.executable, __file__, "--child", tool, "--work", str(work)]
            if args.text_dedup:
                cmd += ["--text-dedup", args.text_dedup]
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode:
                print(f"{tool}: failed\n{proc.stderr[-2000:]}")
                continue
            results[tool] = json.loads(proc.stdout.strip().splitlines()[-1])
        print(f"{'tool':<12}{'docs/s':>10}{'seconds':>10}{'peak RSS MB':>13}{'removed':>10}")
        for tool, r in results.items():
            rate = args.docs / r["seconds"]
            print(f"{tool:<12}{rate:>10,.0f}{r['seconds']:>10.1f}{r['peak_rss_mb']:>13,.0f}"
                  f"{r['removed']:>10,}")  # fmt: skip
        if "winnow" in results:
            for tool, r in results.items():
                if tool != "winnow":
                    ratio = r["seconds"] / results["winnow"]["seconds"]
                    print(f"winnow / {tool}: {ratio:.1f}x docs/s")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
