"""Tokenization and packing speed (run by hand, not a test):
python bench/tokens.py [--docs 40000] [--vocab 16000] [--runs 3]

A byte-level BPE is trained on the documents (real 1 KB windows of man pages, licences,
UDHR and abstracts), then the ``tokenize`` stage encodes them and each ``pack`` strategy
packs the tokens into 2,048-token sequences (written to files, a window of documents at a
time, as the sink does), one core (RAYON_NUM_THREADS=1 for the
tokenizer's Rust threads). Prints tokens/s (median of ``runs``), truncated documents and
padding for each strategy.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("RAYON_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=40_000)
    ap.add_argument("--vocab", type=int, default=16_000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    import numpy as np
    import pyarrow as pa
    from quality import kilobyte_windows

    from tests.conftest import corpus_records
    from winnow.api import _as_documents
    from winnow.stages.base import DROPS_SCHEMA
    from winnow.stages.pack import PackParams, SequenceWriter
    from winnow.stages.tokenize import _KEY, Tokenize, train_bpe

    per = args.docs // 3
    docs = [w for name in ("manpages", "copyright", "udhr") for w in kilobyte_windows(name, per)]
    docs += [r["text"] for r in corpus_records("abstracts")]
    docs = docs[: args.docs]
    t0 = time.perf_counter()
    tokenizer = train_bpe(iter(docs[::4]), args.vocab)
    print(f"{len(docs):,} documents; BPE ({args.vocab:,}) trained on a quarter of them in "
          f"{time.perf_counter() - t0:.1f} s; one core")  # fmt: skip
    stage = Tokenize(Tokenize.ParamsModel(train_vocab=args.vocab))
    decisions = DROPS_SCHEMA.with_metadata({_KEY: tokenizer.encode()}).empty_table()
    batches = _as_documents(pa.table({"text": docs}))[0].to_batches(max_chunksize=4096)
    results, times = [], []
    for _ in range(args.runs):
        t0 = time.perf_counter()
        results = [stage.apply(b, 0, decisions).batch for b in batches]
        times.append(time.perf_counter() - t0)
    tokens = pa.concat_arrays([b.column("tokens") for b in results])
    lengths = np.array([len(x) for x in tokens.to_pylist()])
    total = int(lengths.sum())
    print(f"tokenize: {total / statistics.median(times):,.0f} tokens/s "
          f"({total:,} tokens, {len(docs) / statistics.median(times):,.0f} docs/s)")  # fmt: skip
    table = pa.table({"id": [f"d{i}" for i in range(len(docs))], "tokens": tokens})
    folder = Path(tempfile.mkdtemp(prefix="winnow-tokens-bench-"))
    for strategy in ("concat", "best_fit", "buckets"):
        params = PackParams(seq_len=2048, strategy=strategy)
        times = []
        for _ in range(args.runs):
            t0 = time.perf_counter()
            writer = SequenceWriter(folder / strategy, params, np.uint16, masked=False)
            for start in range(0, table.num_rows, params.window):  # as the sink streams
                writer.add(table.slice(start, params.window))
            stats = writer.close()
            times.append(time.perf_counter() - t0)
        print(f"pack {strategy:<9} {total / statistics.median(times):>14,.0f} tokens/s; "
              f"truncated {stats['documents_truncated']:,} documents, padding "
              f"{stats['padding_fraction']:.2%}")  # fmt: skip
    shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
