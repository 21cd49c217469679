"""Mixture search speed (run by hand, not a test):

    python bench/mixsearch.py [--runs 32] [--tokens 300000]

Four groups from ../shared/corpora (man pages, Debian licences, paper abstracts, UDHR
translations) and held-out abstracts as the target; ``winnow mixsearch`` with RegMix, n-gram
screening proxies and the transformer proxy confirming (one seed), on every core, in a fresh
output folder (no cache). Prints the wall time and proxy runs per minute for each proxy.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=32)
    ap.add_argument("--tokens", type=int, default=300_000)
    args = ap.parse_args()
    from tests.conftest import corpus_records, write_jsonl
    from winnow.mixsearch import mixsearch

    work = Path(tempfile.mkdtemp(prefix="winnow-mixsearch-bench-"))
    try:
        abstracts = corpus_records("abstracts")
        groups = {
            "manuals": [{"text": r["text"][:3000]} for r in corpus_records("manpages", 1500)],
            "licences": [{"text": r["text"][:3000]} for r in corpus_records("copyright")],
            "abstracts": [{"text": r["text"]} for r in abstracts[:500]],
            "udhr": [{"text": r["text"][:3000]} for r in corpus_records("udhr")],
        }
        paths = [str(write_jsonl(work / f"{n}.jsonl", rows)) for n, rows in groups.items()]
        target = write_jsonl(work / "target.jsonl", [{"text": r["text"]} for r in abstracts[500:]])
        t0 = time.perf_counter()
        report = mixsearch({"inputs": paths, "target": str(target), "tokens": args.tokens,
                            "train_tokens": 4 * args.tokens, "runs": args.runs, "seeds": [0],
                            "output": str(work / "mix")}, progress=lambda _: None)  # fmt: skip
        wall = time.perf_counter() - t0
        runs = [json.loads(p.read_text()) for p in (work / "mix" / "cache").glob("*.json")]
        kinds = {"n-gram": [r for r in runs if len(r["curve"]) == 1],
                 "transformer": [r for r in runs if len(r["curve"]) > 1]}  # fmt: skip
        for kind, chosen in kinds.items():
            per_run = sum(r["seconds"] for r in chosen) / max(len(chosen), 1)
            print(f"{kind}: {len(chosen)} runs of {args.tokens:,} tokens, "
                  f"{60 / per_run:.2f} runs/min per core")  # fmt: skip
        print(f"mixsearch, 4 groups x {args.runs} runs, then 3 confirming runs: {wall:.0f} s wall "
              f"on every core; proposal {report['proposal']}")  # fmt: skip
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
