"""Scoring speed of the model-based selectors (run by hand, not a test):
python bench/selection.py [--docs 40000] [--runs 3]

Documents: consecutive 1,000-character windows of the man pages, licences and UDHR, plus
the paper abstracts; one core. Prints docs/s of the first pass (empty token caches) and
the median of ``runs`` later passes, against the goals of issue 5 (quality_classifier
>= 20,000 docs/s, perplexity >= 5,000 docs/s), and fastText's own C++ predict
(fasttext-predict) on the same model and documents.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def rate(fn, n: int) -> float:
    t0 = time.perf_counter()
    fn()
    return n / (time.perf_counter() - t0)


def batches(docs: list[str], size: int) -> list[list[str]]:
    return [docs[i : i + size] for i in range(0, len(docs), size)]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=40_000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    import fasttext
    from quality import kilobyte_windows

    from tests.conftest import corpus_records
    from winnow.models.fasttext import FastTextModel
    from winnow.models.fasttext_train import one_line, train_classifier
    from winnow.models.ngram_lm import NgramLM

    per = args.docs // 3
    docs = [w for name in ("manpages", "copyright", "udhr") for w in kilobyte_windows(name, per)]
    abstracts = [r["text"] for r in corpus_records("abstracts")]
    docs = (docs + abstracts)[: args.docs]
    mean_chars = sum(map(len, docs)) / len(docs)
    print(f"{len(docs):,} documents, mean {mean_chars:,.0f} characters; one core\n")
    work = Path(tempfile.mkdtemp(prefix="winnow-select-bench-"))

    positives, negatives = abstracts[:2000], docs[::7][:2000]
    t0 = time.perf_counter()
    path = train_classifier(positives, negatives, work / "q.bin")
    train_s = time.perf_counter() - t0
    print(f"quality_classifier: trained on 4,000 examples in {train_s:.1f} s")
    model = FastTextModel(path)
    parts = batches(docs, 8192)
    cold = rate(lambda: [model.probability(b, "pos") for b in parts], len(docs))
    warm = statistics.median(
        rate(lambda: [model.probability(b, "pos") for b in parts], len(docs))
        for _ in range(args.runs)
    )
    reference = fasttext.load_model(str(path)).f.predict
    lines = [one_line(d) + "\n" for d in docs]
    theirs = rate(lambda: [reference(x, -1, 0.0, "replace") for x in lines], len(docs))
    print(f"  scoring: first pass {cold:,.0f} docs/s, then {warm:,.0f} docs/s (goal 20,000); "
          f"fastText C++ {theirs:,.0f} docs/s ({warm / theirs:.1f}x)")  # fmt: skip

    reference_docs = [r["text"] for r in corpus_records("manpages", 12_000)[8_000:]]
    t0 = time.perf_counter()
    lm = NgramLM.train(reference_docs, order=5)
    train_s = time.perf_counter() - t0
    grams = sum(len(k) for k in lm.keys)
    megabytes = sum(map(len, reference_docs)) / 1e6
    print(f"\nperplexity: 5-gram Kneser-Ney on {megabytes:.1f} MB of man pages in {train_s:.1f} s "
          f"({grams:,} n-grams)")  # fmt: skip
    parts = batches(docs, 4096)
    cold = rate(lambda: [lm.perplexity(b) for b in parts], len(docs))
    warm = statistics.median(
        rate(lambda: [lm.perplexity(b) for b in parts], len(docs)) for _ in range(args.runs)
    )
    print(f"  scoring: first pass {cold:,.0f} docs/s, then {warm:,.0f} docs/s (goal 5,000)")


if __name__ == "__main__":
    main()
