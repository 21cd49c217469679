"""Does selection help? One command, real text, honest numbers (see docs/experiment.md):

    python examples/experiment.py [--output experiment] [--tokens 300000] [--seeds 0 1]

Pool (from ../shared/corpora): the paper abstracts not used below (378; the target
domain) among 3,000 man pages and the 668 Debian licence files. 200 other abstracts are the
reference set the target-aware selectors see; 200 more are held out as the target
evaluation set. Each
candidate keeps the same number of documents (a tenth of the pool):

- random: a seeded random sample;
- heuristic: Gopher quality and repetition and FineWeb filters, then a random sample;
- dsir: importance resampling toward the reference abstracts;
- quality_classifier: fastText, reference abstracts against a pool sample;
- perplexity: lowest 5-gram perplexity under a model of the reference abstracts.

``winnow evaluate`` then trains the same small transformer on the first ``tokens`` bytes of
each candidate, per seed, and reports the loss on the held-out abstracts and on held-out
man pages.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--output", default="experiment")
    ap.add_argument("--tokens", type=int, default=300_000)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    args = ap.parse_args()
    import winnow
    from tests.conftest import corpus_records, write_jsonl
    from winnow.evaluate import evaluate

    out = Path(args.output)
    data = out / "data"
    data.mkdir(parents=True, exist_ok=True)
    abstracts = [r["text"] for r in corpus_records("abstracts")]
    reference = write_jsonl(data / "reference.jsonl", [{"text": t} for t in abstracts[:200]])
    held_out = write_jsonl(data / "target.jsonl", [{"text": t} for t in abstracts[200:400]])
    pages = corpus_records("manpages", 3200)
    manuals = write_jsonl(
        data / "manuals.jsonl", [{"text": r["text"][:3000]} for r in pages[3000:]]
    )
    pool = [{"id": f"paper-{i}", "text": t} for i, t in enumerate(abstracts[400:800])]
    pool += [{"id": f"man-{i}", "text": r["text"][:3000]} for i, r in enumerate(pages[:3000])]
    pool += [{"id": f"licence-{i}", "text": r["text"][:3000]}
             for i, r in enumerate(corpus_records("copyright", 1000))]  # fmt: skip
    pool_file = write_jsonl(data / "pool.jsonl", pool)
    k = len(pool) // 10
    heuristics = [{"gopher_quality": {}}, {"gopher_repetition": {}}, {"fineweb_quality": {}}]
    candidates = {
        "random": [{"sample": {"keep_top_k": k}}],
        "heuristic": [*heuristics, {"sample": {"keep_top_k": k}}],
        "dsir": [{"dsir": {"target": str(reference), "keep_top_k": k}}],
        "quality_classifier": [
            {"quality_classifier": {"positives": str(reference), "keep_top_k": k}}
        ],
        "perplexity": [{"perplexity": {"target": str(reference), "keep_top_k": k}}],
    }
    folders = {}
    for name, stages in candidates.items():
        folder = out / "candidates" / name
        winnow.run({"inputs": [str(pool_file)], "output": str(folder), "stages": stages},
                   overwrite=True)  # fmt: skip
        folders[name] = str(folder)
        print(f"{name}: selected", flush=True)
    report = evaluate({
        "candidates": folders, "target": str(held_out), "eval_sets": {"manuals": str(manuals)},
        "tokens": args.tokens, "eval_tokens": 50_000, "seeds": args.seeds,
        "model": {"kind": "transformer", "layers": 2, "d_model": 128, "context": 128,
                  "eval_points": 4},
        "output": str(out / "evaluation"),
    })  # fmt: skip
    print(f"\n{'candidate':<20}{'target loss':>22}{'man pages loss':>22}")
    for name in report["ranking"]:
        r = report["candidates"][name]["loss"]
        t, m = r["target"], r["manuals"]
        print(f"{name:<20}{t['loss']:>14.4f} ± {t['loss_std']:.4f}"
              f"{m['loss']:>14.4f} ± {m['loss_std']:.4f}")  # fmt: skip


if __name__ == "__main__":
    main()
