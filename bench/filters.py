"""field_filter and url_filter on one core (run by hand, not a test):
python bench/filters.py [--docs 1000000] [--runs 3] [--vs-docs 200000] [--no-datatrove]

Documents: the Debian copyright files' upstream URLs and packages, and man pages' sections
and names, cycled to ``--docs`` records with real metadata (the text is a short paragraph:
these filters read only fields). Each stage runs on Arrow batches of 8,192 documents in this
process; prints docs/s (median of ``--runs``) and what each removed.

Then url_filter side by side with datatrove's ``URLFilter`` on the same ``--vs-docs``
documents (one JSON Lines file, uncompressed), each a whole pipeline in a fresh process per
run (cold: interpreter, imports, lists, read, filter, write the kept documents and the
removed ones; JSON Lines out), pinned to one core: ``winnow.run`` (workers=1) and datatrove's
``LocalPipelineExecutor`` (``JsonlReader`` -> ``URLFilter`` with an exclusion writer ->
``JsonlWriter``; tasks=1, workers=1). Same lists: the domains, the soft words (threshold 2)
and winnow's default hard words (LDNOOBW English, its one-word entries of letters and digits
only: datatrove strips other characters from a word, so ``s&m`` would become ``sm`` there and
can never match here), ``use_integrated_lists=False``. tldextract is kept off the network:
``TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS=""`` (no URLs: the PSL snapshot bundled with it) and
``TLDEXTRACT_CACHE`` in the bench's scratch. Prints the medians of ``--runs`` whole-process
seconds, docs/s, the ratio, and what each removed (and where they disagree).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import orjson
import pyarrow as pa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from processes import interleaved, pinned_core  # noqa: E402

from tests.conftest import corpus_records  # noqa: E402
from winnow.api import make_stage  # noqa: E402


def records(n: int) -> list[dict]:
    base = []
    for r in corpus_records("copyright"):
        found = re.search(r"^Source:\s*(https?://\S+)", r["text"], re.M)
        if found:
            base.append({"url": found.group(1), "package": r["meta"]["package"]})
    for r in corpus_records("manpages", 5000):
        m = r["meta"]
        base.append({"url": f"https://manpages.debian.org/{m['package']}/{m['name']}",
                     "section": m["section"], "package": m["package"]})  # fmt: skip
    return [base[i % len(base)] for i in range(n)]


def batches(metas: list[dict], size: int = 8192) -> list[pa.RecordBatch]:
    out = []
    for i in range(0, len(metas), size):
        chunk = metas[i : i + size]
        out.append(pa.RecordBatch.from_pydict({
            "id": [f"d{i + k}" for k in range(len(chunk))],
            "text": ["a short paragraph of text"] * len(chunk),
            "meta": [orjson.dumps(m).decode() for m in chunk],
        }))  # fmt: skip
    return out


BLOCKED = ["github.com", "sourceforge.net"]
SOFT = ["perl", "python", "lib"]


def hard_words() -> list[str]:
    """winnow's default hard list (LDNOOBW English, one-word entries), less the entries that
    are not letters and digits only (no URL word here can hold them; datatrove would strip
    them to other words: ``s&m`` -> ``sm``, an emoji -> the empty word)."""
    from winnow.text.words import data_text

    words = [w.lower() for w in data_text("ldnoobw/en.txt").splitlines() if w and " " not in w]
    return sorted({w for w in words if re.fullmatch(r"[a-z0-9]+", w)})


def run_winnow(corpus: Path, work: Path) -> dict:
    import pyarrow.parquet as pq

    import winnow

    (work / "blocked.txt").write_text("".join(f"{d}\n" for d in BLOCKED))
    params = {"block_domains": str(work / "blocked.txt"), "banned_words_hard": hard_words(),
              "banned_words_soft": SOFT}  # fmt: skip
    stage = {"url_filter": params}
    t0 = time.perf_counter()
    winnow.run({"inputs": [str(corpus)], "output": str(work / "out"), "stages": [stage],
                "write": {"format": "jsonl"}}, workers=1)  # fmt: skip
    seconds = time.perf_counter() - t0
    removed = []
    for part in sorted((work / "out" / "ledger").glob("*.parquet")):
        table = pq.read_table(part, columns=["id", "stage"]).to_pydict()
        removed += [i for i, st in zip(table["id"], table["stage"]) if st == "url_filter"]
    return {"seconds": seconds, "removed": removed}


def run_datatrove(corpus: Path, work: Path) -> dict:
    import tldextract
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.filters import URLFilter
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.writers import JsonlWriter
    from loguru import logger

    logger.remove()

    def adapter(self, data: dict, path: str, id_in_file: int | str) -> dict:
        return {"text": data["text"], "id": data["id"], "metadata": data["meta"]}  # meta.url

    url_filter = URLFilter(
        extra_domains=BLOCKED, banned_words=hard_words(), soft_banned_words=SOFT,
        soft_word_threshold=2, use_integrated_lists=False,
        exclusion_writer=JsonlWriter(str(work / "removed"), compression=None),
    )  # fmt: skip
    assert url_filter.tldextractor.suffix_list_urls == (), "tldextract would fetch the PSL"
    assert tldextract.TLDExtract().suffix_list_urls == ()
    pipeline = [
        JsonlReader(str(corpus.parent), glob_pattern=corpus.name, adapter=adapter),
        url_filter,
        JsonlWriter(str(work / "output"), compression=None),
    ]
    t0 = time.perf_counter()
    LocalPipelineExecutor(pipeline=pipeline, tasks=1, workers=1,
                          logging_dir=str(work / "logs")).run()  # fmt: skip
    seconds = time.perf_counter() - t0
    removed = [orjson.loads(line)["id"] for f in sorted((work / "removed").glob("*.jsonl"))
               for line in f.read_bytes().splitlines()]  # fmt: skip
    return {"seconds": seconds, "removed": removed}


def child(tool: str, corpus: Path, work: Path) -> None:
    """One whole run of ``tool`` in this (fresh) process; its figures as JSON on stdout."""
    result = (run_winnow if tool == "winnow" else run_datatrove)(corpus, work)
    (work / "removed.json").write_bytes(orjson.dumps(result.pop("removed")))
    print(json.dumps(result))


def side_by_side(n_docs: int, runs: int) -> None:
    scratch = Path(tempfile.mkdtemp(prefix="winnow-urlfilter-vs-"))
    try:
        corpus = scratch / "corpus" / "docs.jsonl"
        corpus.parent.mkdir()
        with open(corpus, "wb") as fh:
            for i, meta in enumerate(records(n_docs)):
                fh.write(orjson.dumps({"id": f"d{i}", "text": "a short paragraph of text",
                                       "meta": meta}) + b"\n")  # fmt: skip
        env = {**os.environ, "TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS": "",
               "TLDEXTRACT_CACHE": str(scratch / "tldextract"),
               "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}  # fmt: skip
        removed: dict[str, set] = {}

        def collect(tool: str, work: Path) -> None:
            removed[tool] = set(orjson.loads((work / "removed.json").read_bytes()))

        print(f"\nurl_filter vs datatrove URLFilter: {n_docs:,} documents "
              f"({corpus.stat().st_size / 1e6:.0f} MB JSON Lines), whole processes pinned to "
              f"core {pinned_core()}, medians of {runs}")  # fmt: skip
        walls, inner = interleaved(__file__, ["winnow", "datatrove"], runs, scratch,
                                   ["--corpus", str(corpus)], collect, env)  # fmt: skip
        print(f"{'tool':<11}{'docs/s':>10}{'process s':>11}{'pipeline s':>12}{'removed':>10}")
        for tool, w in walls.items():
            wall, pipe = statistics.median(w), statistics.median(inner[tool])
            print(f"{tool:<11}{n_docs / wall:>10,.0f}{wall:>11.2f}{pipe:>12.2f}"
                  f"{len(removed[tool]):>10,}")  # fmt: skip
        ratio = statistics.median(walls["datatrove"]) / statistics.median(walls["winnow"])
        print(f"winnow / datatrove: {ratio:.2f}x docs/s (whole processes)")
        both = removed["winnow"] & removed["datatrove"]
        print(f"removed by both {len(both):,}, only winnow "
              f"{len(removed['winnow'] - both):,}, only datatrove "
              f"{len(removed['datatrove'] - both):,}")  # fmt: skip
        urls = {f"d{i}": m["url"] for i, m in enumerate(records(n_docs))}
        for tool, other in (("winnow", "datatrove"), ("datatrove", "winnow")):
            only = sorted({urls[i] for i in removed[tool] - removed[other]})
            if only:
                print(f"  only {tool}, e.g.: {', '.join(only[:3])}")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--vs-docs", type=int, default=200_000,
                    help="documents of the side-by-side with datatrove's URLFilter")  # fmt: skip
    ap.add_argument("--no-datatrove", action="store_true")
    ap.add_argument("--child", choices=["winnow", "datatrove"], help=argparse.SUPPRESS)
    ap.add_argument("--work", help=argparse.SUPPRESS)
    ap.add_argument("--corpus", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, Path(args.corpus), Path(args.work))
        return
    data = batches(records(args.docs))
    lists = Path(tempfile.mkdtemp(prefix="winnow-filters-bench-"))
    (lists / "blocked.txt").write_text("".join(f"{d}\n" for d in BLOCKED))
    stages = {
        "field_filter": make_stage("field_filter", keep={"any": [
            {"field": "meta.section", "in": ["1", "8"]},
            {"all": [{"field": "meta.package", "regex": "^lib"},
                     {"field": "meta.url", "exists": True}]},
        ]}),  # fmt: skip
        "url_filter": make_stage("url_filter", block_domains=str(lists / "blocked.txt"),
                                 banned_words_soft=SOFT),  # fmt: skip
    }
    print(f"{args.docs:,} documents, one core, batches of 8,192")
    for name, stage in stages.items():
        times, removed = [], 0
        for _ in range(args.runs):
            t0 = time.perf_counter()
            removed = 0
            for b in data:
                result = stage.process(b)
                removed += len(result.reason) - result.reason.null_count
            times.append(time.perf_counter() - t0)
        t = statistics.median(times)
        print(f"{name:<14} {args.docs / t:>12,.0f} docs/s   removed {removed:,}")
    shutil.rmtree(lists, ignore_errors=True)
    if not args.no_datatrove:
        side_by_side(args.vs_docs, args.runs)


if __name__ == "__main__":
    main()
