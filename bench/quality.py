"""Quality filters side by side (run by hand, not a test): python bench/quality.py [--runs 3]

Corpus: paragraph-sized real text (200-3,000 characters) cut from ../shared/corpora. Both
tools run the four heuristic filters (Gopher quality, Gopher repetition, C4, FineWeb) with
default parameters on one core; datatrove document by document (its tokenizer cache shared
by the four filters), winnow stage by stage on Arrow batches (every stage sees every
document). Prints medians and the ratio. Then langid on 1 KB windows of each corpus, next
to fastText's own C++ predict.
"""

from __future__ import annotations

import argparse
import gzip
import random
import resource
import statistics
import sys
import time
from pathlib import Path

import orjson
import pyarrow as pa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from winnow.api import _as_documents, make_stage  # noqa: E402

CORPORA = ROOT.parent / "shared" / "corpora"
STAGES = ("gopher_quality", "gopher_repetition", "c4_quality", "fineweb_quality")


def paragraphs(limit: int, seed: int = 0) -> list[str]:
    out = []
    for name in ("abstracts", "copyright", "manpages", "udhr"):
        with gzip.open(CORPORA / f"{name}.jsonl.gz", "rb") as fh:
            for line in fh:
                text = orjson.loads(line)["text"]
                out += [p for p in text.split("\n\n") if 200 <= len(p) <= 3000]
    random.Random(seed).shuffle(out)
    return out[:limit]


def kilobyte_windows(name: str, limit: int = 10_000) -> list[str]:
    """Consecutive 1,000-character windows of one corpus."""
    out: list[str] = []
    with gzip.open(CORPORA / f"{name}.jsonl.gz", "rb") as fh:
        for line in fh:
            text = orjson.loads(line)["text"]
            out += [text[i : i + 1000] for i in range(0, len(text) - 999, 1000)]
            if len(out) >= limit:
                break
    return out[:limit]


def langid_side_by_side(runs: int) -> None:
    """winnow's langid stage (numpy fastText, probe then re-read) against fastText's own
    C++ predict on the same 1 KB documents, whole document, one core each. The first
    winnow pass starts with an empty token cache and is shown apart."""
    import fasttext

    from winnow.stages.langid import lid176_path

    reference = fasttext.load_model(lid176_path()).f.predict
    head = f"{'winnow':>10}{'(cold)':>10}{'fastText':>10}{'ratio':>7}"
    print(f"{'langid on 1 KB documents':<38}{head}")
    for name in ("abstracts", "udhr", "copyright", "manpages"):
        docs = kilobyte_windows(name)
        ours, cold, theirs, ratio = langid_rates(docs, reference, runs)
        row = f"  {name} ({len(docs):,} docs)"
        print(f"{row:<38}{ours:>10,.0f}{cold:>10,.0f}{theirs:>10,.0f}{ratio:>6.1f}x")


def langid_rates(docs: list[str], reference, runs: int) -> tuple[float, ...]:
    """(winnow docs/s, its first pass, fastText docs/s, median paired ratio)."""
    lines = [d.replace("\n", " ").replace("\r", " ") + "\n" for d in docs]
    batches = _as_documents(pa.table({"text": docs}))[0].to_batches(max_chunksize=2048)
    stage = make_stage("langid")
    cold = median_rate(lambda: [stage.process(b) for b in batches], len(docs), 1)
    ours, theirs = [], []
    for _ in range(runs):
        ours.append(median_rate(lambda: [stage.process(b) for b in batches], len(docs), 1))
        theirs.append(
            median_rate(lambda: [reference(x, 1, 0.0, "replace") for x in lines], len(docs), 1)
        )
    ratio = statistics.median(a / b for a, b in zip(ours, theirs))
    return statistics.median(ours), cold, statistics.median(theirs), ratio


def median_rate(fn, n_docs: int, runs: int) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return n_docs / statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=20_000)
    ap.add_argument("--reference-docs", type=int, default=2_000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    docs = paragraphs(args.docs)
    mean_chars = sum(map(len, docs)) / len(docs)
    print(f"{len(docs):,} paragraphs, mean {mean_chars:.0f} characters; medians of {args.runs}")

    batches = _as_documents(pa.table({"text": docs}))[0].to_batches(max_chunksize=2048)
    stages = [make_stage(name) for name in STAGES]

    def winnow_all():
        for batch in batches:
            for stage in stages:
                stage.process(batch)

    from datatrove.data import Document
    from datatrove.pipeline.filters import (
        C4QualityFilter,
        FineWebQualityFilter,
        GopherQualityFilter,
        GopherRepetitionFilter,
    )
    from loguru import logger

    logger.remove()
    filters = [
        GopherQualityFilter(),
        GopherRepetitionFilter(),
        C4QualityFilter(),
        FineWebQualityFilter(),
    ]
    sample = docs[: args.reference_docs]

    def datatrove_all():
        for text in sample:
            for f in filters:
                f.filter(Document(text=text, id="x"))

    winnow_all()  # warm caches, as a long run would be
    datatrove_all()
    ours_runs, theirs_runs = [], []
    for _ in range(args.runs):  # interleaved, so drifts of this machine hit both alike
        ours_runs.append(median_rate(winnow_all, len(docs), 1))
        theirs_runs.append(median_rate(datatrove_all, len(sample), 1))
    ours, theirs = statistics.median(ours_runs), statistics.median(theirs_runs)
    ratio = statistics.median(a / b for a, b in zip(ours_runs, theirs_runs))
    per_stage = {
        s.name: median_rate(lambda s=s: [s.process(b) for b in batches], len(docs), args.runs)
        for s in stages
    }
    mb = mean_chars / 1e6
    print(f"{'':<26}{'docs/s/core':>14}{'MB/s/core':>11}")
    print(f"{'winnow, all four':<26}{ours:>14,.0f}{ours * mb:>11.2f}")
    for name, rate in per_stage.items():
        print(f"{'  ' + name:<26}{rate:>14,.0f}{rate * mb:>11.2f}")
    print(f"{'datatrove, all four':<26}{theirs:>14,.0f}{theirs * mb:>11.2f}")
    print(f"winnow / datatrove (median of paired runs): {ratio:.1f}x")
    langid_side_by_side(args.runs)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of this process: {peak:.0f} MB")


if __name__ == "__main__":
    main()
