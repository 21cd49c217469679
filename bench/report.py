"""The data card at scale (run by hand, not a test):
python bench/report.py [--docs 1000000]

Runs a short recipe (length filter, language-free quality filter, exact dedup) over
``docs`` generated documents (sentences drawn from the man pages, 10% exact repeats),
then measures report.html: its size, the time to write it from stats.json, and the time
headless Chromium takes to load and render it (median of 3).
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=1_000_000)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    import winnow
    from tests.conftest import corpus_records
    from winnow.report.html import write_report

    work = Path(tempfile.mkdtemp(prefix="winnow-report-bench-"))
    lines = [
        line.strip()
        for r in corpus_records("manpages", 2000)
        for line in r["text"].splitlines()
        if len(line.split()) >= 4
    ]
    rng = random.Random(0)
    data = work / "docs.jsonl"
    with open(data, "w") as fh:
        previous = []
        for i in range(args.docs):
            if previous and rng.random() < 0.1:
                text = rng.choice(previous)
            else:
                text = " ".join(rng.choice(lines) for _ in range(rng.randint(1, 8)))
                if len(previous) < 10_000:
                    previous.append(text)
            fh.write(json.dumps({"id": f"d{i}", "text": text}) + "\n")
    t0 = time.perf_counter()
    winnow.run(
        {
            "inputs": [str(data)],
            "output": str(work / "out"),
            "stages": [
                {"length_filter": {"min_words": 20}},
                {"fineweb_quality": {"language": "en"}},
                {"exact_dedup": {}},
            ],
            "write": {"format": "parquet"},
        },
        workers=args.workers,
    )
    run_s = time.perf_counter() - t0
    report = work / "out" / "report.html"
    writes = []
    for _ in range(3):
        t0 = time.perf_counter()
        write_report(work / "out")
        writes.append(time.perf_counter() - t0)
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    renders = []
    for _ in range(3 if chromium else 0):
        t0 = time.perf_counter()
        subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom",
                        report.as_uri()], capture_output=True, timeout=120)  # fmt: skip
        renders.append(time.perf_counter() - t0)
    size = report.stat().st_size
    print(f"{args.docs:,} documents, run in {run_s:.1f} s with {args.workers} workers")
    print(
        f"report.html: {size / 1e6:.2f} MB (goal < 5 MB); written in "
        f"{statistics.median(writes):.2f} s from stats.json and the ledger"
    )
    if renders:
        print(
            f"headless Chromium load + render + DOM dump: {statistics.median(renders):.2f} s "
            "(median of 3, including browser start; goal < 2 s)"
        )
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
