"""WARC to text on real documentation HTML (run by hand, not a test; needs Debian's rust-doc):
python bench/warc.py [--pages 3000] [--runs 3] [--tools winnow,datatrove]

The pages: ``--pages`` pages of Debian's rust-doc package, half mdBook books (the Rust book,
the Reference, Rust by Example, the Rustonomicon...: all 1,474 there are) and the rest rustdoc
API pages (std, alloc, proc_macro, test), spread evenly over their sorted paths, written as a
crawler writes a gzipped WARC (``tests/doc_pages.py``: a warcinfo record, a request record
before each response, the HTTP header; every other page declares its charset only in
``<meta>``).

Each tool is a whole pipeline in a fresh process per run (cold: interpreter, imports, read the
WARC, extract, write JSON Lines), pinned to one core, the runs interleaved:

- ``winnow``: ``winnow.run`` (workers=1, no stages), the default ``extractor: resiliparse``;
- ``datatrove``: datatrove's ``LocalPipelineExecutor`` (tasks=1, workers=1) running
  ``WarcReader`` -> ``Trafilatura`` (its defaults: favour_precision, deduplicate, 1 s timeout in
  its sandbox process) -> ``JsonlWriter``;
- ``winnow-trafilatura`` (when asked for): ``winnow.run`` with ``extractor: trafilatura``.

Prints, per tool, the medians of ``--runs`` whole-process seconds, pages/s, and the token
precision and recall of the text against each page's main-content element (``<main>`` in an
mdBook page, ``<section id="main-content">`` in a rustdoc page; all tokens, and the mean over
pages), per kind of page; a page a tool wrote nothing for counts as empty. Then the ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from processes import interleaved, pinned_core  # noqa: E402

from tests import doc_pages as dp  # noqa: E402

TOOLS = ("winnow", "datatrove", "winnow-trafilatura")


def run_winnow(warc: Path, work: Path, extractor: str = "resiliparse") -> dict:
    import winnow

    t0 = time.perf_counter()
    winnow.run({"inputs": [{"path": str(warc), "extractor": extractor}],
                "output": str(work / "out"), "stages": [], "write": {"format": "jsonl"}},
               workers=1)  # fmt: skip
    seconds = time.perf_counter() - t0
    texts = {}
    for part in sorted((work / "out" / "data").glob("part-*")):
        for line in part.read_bytes().splitlines():
            doc = orjson.loads(line)
            texts[doc["meta"]["url"]] = doc["text"]
    return {"seconds": seconds, "texts": texts}


def run_datatrove(warc: Path, work: Path) -> dict:
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.extractors import Trafilatura
    from datatrove.pipeline.readers import WarcReader
    from datatrove.pipeline.writers import JsonlWriter
    from loguru import logger

    logger.remove()
    pipeline = [
        WarcReader(str(warc.parent), glob_pattern=warc.name),
        Trafilatura(),
        JsonlWriter(str(work / "output"), compression=None),
    ]
    t0 = time.perf_counter()
    LocalPipelineExecutor(pipeline=pipeline, tasks=1, workers=1,
                          logging_dir=str(work / "logs")).run()  # fmt: skip
    seconds = time.perf_counter() - t0
    texts = {}
    for part in sorted((work / "output").glob("*.jsonl")):
        for line in part.read_bytes().splitlines():
            doc = orjson.loads(line)
            texts[doc["metadata"]["url"]] = doc["text"]
    return {"seconds": seconds, "texts": texts}


def child(tool: str, warc: Path, work: Path) -> None:
    """One whole run of ``tool`` in this (fresh) process; its seconds as JSON on stdout."""
    if tool == "datatrove":
        result = run_datatrove(warc, work)
    else:
        result = run_winnow(warc, work, "trafilatura" if tool != "winnow" else "resiliparse")
    (work / "texts.json").write_bytes(orjson.dumps(result.pop("texts")))
    print(json.dumps(result))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pages", type=int, default=3000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--tools", default="winnow,datatrove",
                    help=f"comma-separated, of {', '.join(TOOLS)}")  # fmt: skip
    ap.add_argument("--child", choices=TOOLS, help=argparse.SUPPRESS)
    ap.add_argument("--work", help=argparse.SUPPRESS)
    ap.add_argument("--warc", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, Path(args.warc), Path(args.work))
        return
    tools = args.tools.split(",")
    assert set(tools) <= set(TOOLS), tools
    pages = dp.crawl_pages(args.pages)
    scratch = Path(tempfile.mkdtemp(prefix="winnow-warc-bench-"))
    try:
        warc = scratch / "crawl" / "docs.warc.gz"
        warc.parent.mkdir()
        dp.write_warc(warc, [dp.Response(p.url, p.html, dp.content_type(i))
                             for i, p in enumerate(pages)])  # fmt: skip
        refs = {p.url: dp.reference_text(p) for p in pages}
        html_mb = sum(len(p.html) for p in pages) / 1e6
        kinds = {k: sum(p.kind == k for p in pages) for k in ("mdbook", "rustdoc")}
        env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
        texts: dict[str, dict] = {}

        def collect(tool: str, work: Path) -> None:
            texts[tool] = orjson.loads((work / "texts.json").read_bytes())

        print(f"{len(pages):,} pages ({kinds['mdbook']:,} mdBook, {kinds['rustdoc']:,} rustdoc; "
              f"{html_mb:.0f} MB of HTML, WARC {warc.stat().st_size / 1e6:.0f} MB gzipped), "
              f"whole processes on core {pinned_core()}, medians of {args.runs}")  # fmt: skip
        walls, inner = interleaved(__file__, tools, args.runs, scratch, ["--warc", str(warc)],
                                   collect, env)  # fmt: skip
        print(f"{'tool':<20}{'pages/s':>9}{'process s':>11}{'pipeline s':>12}  "
              f"{'kind':<8}{'P':>7}{'R':>7}{'page P':>8}{'page R':>8}{'empty':>7}")  # fmt: skip
        for tool in tools:
            wall, pipe = statistics.median(walls[tool]), statistics.median(inner[tool])
            head = f"{tool:<20}{len(pages) / wall:>9,.1f}{wall:>11.2f}{pipe:>12.2f}  "
            for kind in ("mdbook", "rustdoc", "all"):
                chosen = [p for p in pages if kind in ("all", p.kind)]
                got = texts[tool]
                s = dp.scores([(got.get(p.url, ""), refs[p.url]) for p in chosen])
                empty = sum(not (got.get(p.url) or "").strip() for p in chosen)
                figures = [s[k] for k in ("precision", "recall", "page_precision", "page_recall")]
                print(f"{head}{kind:<8}{figures[0]:>7.3f}{figures[1]:>7.3f}"
                      f"{figures[2]:>8.3f}{figures[3]:>8.3f}{empty:>7,}")  # fmt: skip
                head = " " * len(head)
        if "winnow" in tools:
            for tool in [t for t in tools if t != "winnow"]:
                ratio = statistics.median(walls[tool]) / statistics.median(walls["winnow"])
                print(f"winnow / {tool}: {ratio:.1f}x pages/s (whole processes)")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
