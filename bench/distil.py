"""``distil``'s scoring speed against the classifier it runs: the stage scoring every
document of a run (in-process, the model trained on a graded sample of the same corpus)
and the bare model on the same texts (model2vec's ``encode`` plus the head; winnow's
fastText ``probability``). The ratio shows what the stage adds around its classifier.

    python bench/distil.py --docs 50000 --runs 3

Man pages from ../shared/corpora, first 2,000 characters, graded by corpus section (a known
rule, so the held-out agreement printed is checkable). One core (``taskset`` the process for
a clean figure)."""

from __future__ import annotations

import argparse
import gzip
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import winnow  # noqa: E402
from winnow.stages.llm.distil import _predict  # noqa: E402

CORPORA = Path(__file__).resolve().parents[2] / "shared" / "corpora"


def documents(n: int) -> tuple[list[str], list[float]]:
    texts, grades = [], []
    with gzip.open(CORPORA / "manpages.jsonl.gz", "rt", encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            texts.append(r["text"][:2000])
            section = str((r.get("meta") or {}).get("section", "1"))[:1]
            grades.append({"1": 4.0, "8": 3.0, "3": 1.0}.get(section, 2.0))
    order = np.random.default_rng(0).permutation(len(texts))  # the corpus is by section
    texts, grades = [texts[i] for i in order], [grades[i] for i in order]
    reps = -(-n // len(texts))
    return (texts * reps)[:n], (grades * reps)[:n]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=50_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--backends", default="static,fasttext")
    ap.add_argument("--work", default="/tmp/winnow-bench-distil")
    args = ap.parse_args()
    texts, grades = documents(args.docs)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    graded = 5_000
    table = pa.table({
        "id": [f"d{i}" for i in range(len(texts))],
        "text": texts,
        "meta": [json.dumps({"grade": g}) if i < graded else None
                 for i, g in enumerate(grades)],
    })  # fmt: skip
    for backend in args.backends.split(","):
        model = work / f"model-{backend}"
        model.unlink(missing_ok=True)
        rule = {"min_score": 3} if backend == "static" else {"min_score": 0.5}
        t0 = time.perf_counter()
        winnow.apply_stage("distil", table.slice(0, graded), column="meta.grade",
                           backend=backend, model=str(model), **rule)  # fmt: skip
        fit = time.perf_counter() - t0
        stage_obj = winnow.make_stage("distil", column="meta.grade", backend=backend, **rule)
        held = stage_obj._evaluate(texts[:graded], np.array(grades[:graded]))
        print(f"{backend}: held-out agreement on {held['held_out']:,} of {graded:,} graded: "
              f"Spearman {held['spearman']:.3f}, F1 at 3 {held['f1']:.3f}")
        stage, bare = [], []
        for _ in range(args.runs):
            t0 = time.perf_counter()
            scored = winnow.apply_stage("distil", table, column="meta.grade", backend=backend,
                                        model=str(model), **rule)  # fmt: skip
            stage.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            for i in range(0, len(texts), 4096):
                _predict(str(model), backend, texts[i : i + 4096])
            bare.append(time.perf_counter() - t0)
        s, b = statistics.median(stage), statistics.median(bare)
        kept = int(np.sum(scored.column("keep").to_numpy(zero_copy_only=False)))
        print(f"{backend}: fit on {graded:,} graded docs {fit:.1f} s; scoring {len(texts):,} docs: "
              f"stage {len(texts) / s:,.0f} docs/s, bare classifier {len(texts) / b:,.0f} docs/s "
              f"(stage/classifier {b / s:.2f}); kept {kept:,}")


if __name__ == "__main__":
    main()
