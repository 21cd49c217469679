"""The mixing experiment of docs/experiment.md ("Choosing the mixture"), on this machine:

    python examples/mixing.py --output mixing [--tokens 200000] [--seeds 0 1]

Groups from ../shared/corpora, the target domain held out from all of them: man pages of
section 1 (commands), section 3 (library calls), sections 5 and 7 (formats, overviews), Debian
licences, paper abstracts and UDHR translations; the target is section 8 (administration
commands), in no group. Prints markdown tables and writes every result under ``--output``:

1. ``winnow mixsearch`` (RegMix on 32 n-gram proxy runs; the proposal, the natural and the
   uniform mixture verified with the transformer proxy over the seeds);
2. a final-phase sweep: the natural mixture, with 0/5/10/20/30% of the stream at the end given
   to the group mixsearch ranks most useful, each stream trained in its order (``wsd``);
3. repeated data: the same budget over 1, 4 and 16 epochs of that group;
4. the datamodel's top group against leave-one-group-out runs;
5. proxy runs per minute (n-gram, transformer) and the search's wall time.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def build(folder: Path) -> tuple[list[str], str]:
    from tests.conftest import corpus_records, write_jsonl

    folder.mkdir(parents=True, exist_ok=True)
    man = corpus_records("manpages")

    def pages(sections, limit):
        rows = [{"text": r["text"][:3000]} for r in man if r["id"].split("-")[1] in sections]
        return rows[:limit]

    groups = {
        "man1": pages({"1"}, 1500), "man3": pages({"3"}, 800), "man5_7": pages({"5", "7"}, 400),
        "licences": [{"text": r["text"][:3000]} for r in corpus_records("copyright")],
        "abstracts": [{"text": r["text"]} for r in corpus_records("abstracts")],
        "udhr": [{"text": r["text"][:3000]} for r in corpus_records("udhr")],
    }  # fmt: skip
    paths = [str(write_jsonl(folder / f"{n}.jsonl", rows)) for n, rows in groups.items()]
    target = write_jsonl(folder / "target.jsonl", pages({"8"}, 400))
    return paths, str(target)


def transformer(tokens: int) -> dict:
    return {"kind": "transformer", "layers": 2, "d_model": 128, "heads": 4, "context": 128,
            "eval_points": 8}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--output", default="mixing")
    ap.add_argument("--tokens", type=int, default=200_000)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    args = ap.parse_args()
    import winnow
    from winnow.evaluate import evaluate
    from winnow.mixsearch import mixsearch

    out = Path(args.output)
    paths, target = build(out / "data")
    quiet = lambda _: None  # noqa: E731
    started = time.perf_counter()
    search = mixsearch({
        "inputs": paths, "target": target, "tokens": args.tokens, "train_tokens": 4 * args.tokens,
        "runs": 32, "method": "regmix", "seeds": args.seeds, "output": str(out / "search"),
        "confirm": transformer(args.tokens),
    }, progress=quiet)  # fmt: skip
    search_seconds = time.perf_counter() - started
    print("## 1. mixsearch (RegMix, 32 n-gram runs; verified by the transformer proxy)\n")
    print("| mixture | target loss | tokens to the natural mixture's loss | weights |")
    print("| --- | ---: | ---: | --- |")
    for name, r in search["verification"].items():
        reach = r["tokens_to_natural_loss"]
        tokens = f"{reach['tokens']:,.0f} ± {reach['tokens_std']:,.0f}" if reach["tokens"] else "—"
        weights = ", ".join(f"{g} {w:.2f}" for g, w in r["weights"].items() if w >= 0.005)
        print(f"| {name} | {r['loss']['target']:.4f} ± {r['loss_std']['target']:.4f} | "
              f"{tokens} | {weights} |")  # fmt: skip
    dm = search["datamodel"]
    print(f"\nsurrogate held-out Spearman {search['surrogate']['held_out_spearman']:.3f}; "
          f"datamodel held-out R² {dm['held_out_r2']:.3f}, Spearman "
          f"{dm['held_out_spearman']:.3f}\n")  # fmt: skip
    print("| group | effect on target loss | 95% interval |\n| --- | ---: | --- |")
    ranked = sorted(dm["effects"], key=lambda g: dm["effects"][g]["effect"])
    for g in ranked:
        e = dm["effects"][g]
        print(f"| {g} | {e['effect']:+.3f} | [{e['low']:+.3f}, {e['high']:+.3f}] |")
    best = ranked[0]
    natural = search["verification"]["natural"]["weights"]

    def stream(name: str, mix: dict) -> str:
        folder = out / "streams" / name
        winnow.run({"inputs": paths, "output": str(folder), "stages": [{"mix": mix}]},
                   workers=2, overwrite=True)  # fmt: skip
        return str(folder)

    budget = args.tokens // 4  # mix counts bytes / 4
    sweep = {}
    for share in (0, 5, 10, 20, 30):
        mix = {"weights": natural, "tokens": budget, "max_epochs": 16}
        if share:
            mix["final"] = {"fraction": share / 100, "weights": {best: 1.0}}
        sweep[f"final {share}%"] = stream(f"final-{share}", mix)
    evaluated = evaluate({
        "candidates": sweep, "target": target, "tokens": args.tokens, "seeds": args.seeds,
        "model": {**transformer(args.tokens), "schedule": "wsd"}, "output": str(out / "sweep"),
    }, progress=quiet)  # fmt: skip
    print(f"\n## 2. Final-phase sweep ({best} upsampled at the end; stream order, wsd)\n")
    print("| stream | target loss | tokens to the 0% stream's loss |\n| --- | ---: | ---: |")
    for name, r in evaluated["candidates"].items():
        reach = r["tokens_to_reference_loss"]
        tokens = f"{reach['tokens']:,.0f}" if reach["tokens"] else "not reached"
        print(f"| {name} | {r['loss']['target']['loss']:.4f} ± "
              f"{r['loss']['target']['loss_std']:.4f} | {tokens} |")  # fmt: skip
    repeats = {}
    lines = Path(paths[[Path(p).stem for p in paths].index(best)]).read_text().splitlines()
    sizes = [len(json.loads(line)["text"].encode()) for line in lines]
    for epochs in (1, 4, 16):
        # the best group alone, from a subset small enough that the budget needs this many
        # passes: the mix's epoch cap and its token target fix the repeats
        keep, total = 0, 0
        while keep < len(sizes) and total < args.tokens / epochs:
            total += sizes[keep]
            keep += 1
        subset = out / "data" / f"{best}-{epochs}.jsonl"
        subset.write_text("\n".join(lines[:keep]) + "\n")
        folder = out / "streams" / f"epochs-{epochs}"
        winnow.run({"inputs": [str(subset)], "output": str(folder),
                    "stages": [{"mix": {"tokens": budget, "max_epochs": epochs}}]},
                   workers=1, overwrite=True)  # fmt: skip
        repeats[f"{epochs} epoch(s)"] = str(folder)
    evaluated = evaluate({
        "candidates": repeats, "target": target, "tokens": args.tokens, "seeds": args.seeds,
        "model": transformer(args.tokens), "output": str(out / "epochs"),
    }, progress=quiet)  # fmt: skip
    print(f"\n## 3. Repeated data: {args.tokens:,} tokens of {best} as 1, 4 and 16 epochs\n")
    print("| data | target loss |\n| --- | ---: |")
    for name, r in evaluated["candidates"].items():
        print(f"| {name} | {r['loss']['target']['loss']:.4f} ± "
              f"{r['loss']['target']['loss_std']:.4f} |")  # fmt: skip
    logo = {}
    names = [Path(p).stem for p in paths]
    for left_out in [None, *names]:
        kept = [p for p, n in zip(paths, names) if n != left_out]
        logo[f"without {left_out}" if left_out else "all groups"] = _uniform(out, kept, left_out)
    evaluated = evaluate({
        "candidates": logo, "target": target, "tokens": args.tokens, "seeds": args.seeds,
        "model": {"kind": "ngram"}, "output": str(out / "logo"),
    }, progress=quiet)  # fmt: skip
    base = evaluated["candidates"]["all groups"]["loss"]["target"]["loss"]
    print("\n## 4. Leave one group out (uniform mixtures, n-gram proxy)\n")
    print("| mixture | target loss | change |\n| --- | ---: | ---: |")
    for name, r in evaluated["candidates"].items():
        loss = r["loss"]["target"]["loss"]
        print(f"| {name} | {loss:.4f} | {loss - base:+.4f} |")
    runs = len(search["runs"]) * len(args.seeds)
    screen = [json.loads(p.read_text()) for p in (out / "search" / "cache").glob("*.json")]
    ngram = [r["seconds"] for r in screen if len(r["curve"]) == 1]
    deep = [r["seconds"] for r in screen if len(r["curve"]) > 1]
    print("\n## 5. Speed\n")
    print(f"mixsearch of {len(names)} groups x 32 runs x {len(args.seeds)} seeds ({runs} n-gram "
          f"runs, then 3 x {len(args.seeds)} transformer runs): {search_seconds:.0f} s wall; "
          f"n-gram proxy {60 / (sum(ngram) / len(ngram)):.1f} runs/min per core, transformer "
          f"{60 / (sum(deep) / max(len(deep), 1)):.2f} runs/min per core "
          f"({args.tokens:,} tokens each)")  # fmt: skip


def _uniform(out: Path, paths: list[str], name: str | None) -> str:
    """The groups' documents in equal shares of bytes (whole documents), as one file."""
    texts = [[json.loads(line)["text"] for line in Path(p).read_text().splitlines()]
             for p in paths]  # fmt: skip
    share = min(sum(len(t.encode()) for t in g) for g in texts)
    rows = []
    for group in texts:
        size = 0
        for text in group:
            if size >= share:
                break
            rows.append({"text": text})
            size += len(text.encode())
    path = out / "data" / f"uniform-without-{name or 'none'}.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


if __name__ == "__main__":
    main()
