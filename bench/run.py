"""winnow benchmark (run by hand, not a test): python bench/run.py [--mb 200] [--runs 3]

Builds a corpus of at least --mb MB of text from ../shared/corpora (all four corpora, repeated
with fresh ids, so each repeat is an exact duplicate), then prints medians of --runs runs:

- the I/O floor: read + parse only, one core (MB/s of text);
- each stage alone on in-memory batches, one core (docs/s, MB/s);
- the whole default recipe with `winnow run` on all cores (MB/s wall) and peak RSS;
- the web recipe (``WEB_RECIPE``: langid, the four heuristic filters, exact and MinHash dedup)
  with `winnow run --workers 1` pinned to one core, MB/s per core of the whole process and of
  each stage (its seconds in stats.json); with ``--baseline DIR`` (a checkout of an earlier
  commit, e.g. ``git worktree add /tmp/base 567d039``) the same runs of that tree, interleaved,
  and the ratio.
"""

from __future__ import annotations

import argparse
import gzip
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson
import pyarrow as pa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from winnow.api import make_stage  # noqa: E402
from winnow.engine.id_check import IdCheck  # noqa: E402
from winnow.io.inputs import expand  # noqa: E402
from winnow.io.read import read_shard  # noqa: E402
from winnow.stages.base import RunContext, TableShard, apply_drops  # noqa: E402

CORPORA = ROOT.parent / "shared" / "corpora"
NAMES = ("abstracts", "copyright", "manpages", "udhr")


def build_corpus(folder: Path, target_mb: float) -> Path:
    """Repeat the shared corpora into gzipped JSONL files of ~25 MB text each."""
    marker = folder / f"done-{target_mb}"
    if marker.exists():
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    records = []
    for name in NAMES:
        with gzip.open(CORPORA / f"{name}.jsonl.gz", "rb") as fh:
            records += [orjson.loads(line) for line in fh]
    total, rep, lines = 0, 0, []

    def flush(part: int) -> None:
        with gzip.open(folder / f"part-{part:03d}.jsonl.gz", "wb", compresslevel=1) as out:
            out.write(b"".join(lines))
        lines.clear()

    part, in_part = 0, 0
    while total < target_mb * 1e6:
        for r in records:
            lines.append(orjson.dumps({**r, "id": f"{r['id']}#r{rep}"}) + b"\n")
            n = len(r["text"].encode())
            total, in_part = total + n, in_part + n
            if in_part > 25e6:
                flush(part)
                part, in_part = part + 1, 0
        rep += 1
    if lines:
        flush(part)
    marker.write_text(str(total))
    return folder


def _tree(pid: int) -> list[int]:
    pids, todo = [], [pid]
    while todo:
        p = todo.pop()
        pids.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as fh:
                    todo += [int(c) for c in fh.read().split()]
        except OSError:
            continue
    return pids


def _rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def watch_rss(proc: subprocess.Popen) -> tuple[float, float]:
    """Poll a process tree until it exits: (largest single RSS, largest sum of RSS) in MB."""
    peak = total = 0.0
    while proc.poll() is None:
        sizes = [_rss_mb(p) for p in _tree(proc.pid)]
        peak, total = max(peak, max(sizes, default=0)), max(total, sum(sizes))
        time.sleep(0.05)
    return peak, total


def median_time(fn, runs: int) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def datatrove_read_seconds(corpus: Path, runs: int) -> float | None:
    """The anchor for the I/O floor: datatrove's JsonlReader yielding Documents, one core."""
    try:
        from datatrove.pipeline.readers import JsonlReader
        from loguru import logger
    except ImportError:
        print("  (datatrove not installed: pip install -e '.[test]' to compare)")
        return None
    logger.remove()
    reader = JsonlReader(str(corpus), glob_pattern="*.jsonl.gz")
    return median_time(lambda: sum(1 for _ in reader.run(None, 0, 1)), runs)


WEB_RECIPE = """stages:
  - langid: {}
  - gopher_quality: {}
  - gopher_repetition: {}
  - c4_quality: {}
  - fineweb_quality: {}
  - exact_dedup: {}
  - minhash_dedup: {}
write: {format: jsonl.gz}
"""


def web_recipe(corpus: Path, cache: Path, text_mb: float, runs: int, baseline: str | None) -> None:
    """The web recipe as whole processes on one core: this tree (and ``baseline``'s)."""
    import json

    recipe = cache / "web.yaml"
    recipe.write_text(f"inputs: [{corpus}]\n" + WEB_RECIPE)
    trees = {"this tree": str(ROOT)} | ({"baseline": baseline} if baseline else {})
    walls: dict[str, list[float]] = {t: [] for t in trees}
    stage_seconds: dict[str, dict[str, list[float]]] = {t: {} for t in trees}
    stage_mb: dict[str, float] = {}
    core = min(os.sched_getaffinity(0))
    for _ in range(runs):
        for tree, path in trees.items():
            out = cache / "web-out"
            cmd = [sys.executable, "-m", "winnow.cli", "run", str(recipe), "-o", str(out),
                   "--overwrite", "--workers", "1"]  # fmt: skip
            env = {**os.environ, "PYTHONPATH": path}
            t0 = time.perf_counter()
            proc = subprocess.run(cmd, capture_output=True, cwd=path, env=env,
                                  preexec_fn=lambda: os.sched_setaffinity(0, {core}))  # fmt: skip
            walls[tree].append(time.perf_counter() - t0)
            if proc.returncode:
                sys.exit(proc.stderr.decode()[-3000:])
            stats = json.loads((out / "stats.json").read_text())
            for st in stats["stages"]:
                stage_seconds[tree].setdefault(st["name"], []).append(st["seconds"])
                stage_mb[st["name"]] = st["bytes_in"] / 1e6
    print(f"\nweb recipe, one core (`winnow run --workers 1`, pinned), medians of {runs}:")
    names = list(stage_mb)
    head = "".join(f"{t + ' MB/s':>18}" for t in trees)
    print(f"{'':<28}{head}" + (f"{'ratio':>8}" if baseline else ""))
    rows = [("whole process", text_mb, {t: statistics.median(walls[t]) for t in trees})]
    rows += [(n, stage_mb[n], {t: statistics.median(stage_seconds[t].get(n, [0])) for t in trees})
             for n in names]  # fmt: skip
    for name, mb, secs in rows:
        rates = {t: mb / secs[t] if secs[t] else float("inf") for t in trees}
        line = f"{name:<28}" + "".join(f"{rates[t]:>18,.1f}" for t in trees)
        if baseline:
            line += f"{rates['this tree'] / rates['baseline']:>7.2f}x"
        print(line)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=float, default=200)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--cache", default=os.path.join(tempfile.gettempdir(), "winnow-bench"))
    ap.add_argument("--web-only", action="store_true", help="only the web recipe")
    ap.add_argument("--baseline", help="a checkout of an earlier commit, run beside this tree")
    args = ap.parse_args()
    corpus = build_corpus(Path(args.cache) / "corpus", args.mb)
    if args.web_only:
        text_mb = int((corpus / f"done-{args.mb}").read_text()) / 1e6
        web_recipe(corpus, Path(args.cache), text_mb, args.runs, args.baseline)
        return
    files = expand(str(corpus))
    text_mb = int((corpus / f"done-{args.mb}").read_text()) / 1e6
    print(
        f"corpus: {len(files)} files, {text_mb:.0f} MB of text, "
        f"{sum(f.size for f in files) / 1e6:.0f} MB gzipped; medians of {args.runs} runs\n"
    )

    batches: list[pa.RecordBatch] = []

    def read_all():
        batches.clear()
        for batch, _ in read_shard(files):
            batches.append(batch)

    def read_only():
        for _ in read_shard(files):
            pass

    t = median_time(read_only, args.runs)
    read_all()  # kept in memory for the per-stage timings below
    docs = sum(b.num_rows for b in batches)
    print(f"{'phase':<28}{'docs/s/core':>14}{'MB/s/core':>12}")
    print(f"{'I/O floor (read+parse)':<28}{docs / t:>14,.0f}{text_mb / t:>12.1f}")
    anchor = datatrove_read_seconds(corpus, args.runs)
    if anchor:
        print(
            f"{'  datatrove JsonlReader':<28}{docs / anchor:>14,.0f}{text_mb / anchor:>12.1f}"
            f"   winnow is {anchor / t:.2f}x faster"
        )

    for name, params in (("normalize", {}), ("length_filter", {"min_words": 50})):
        stage = make_stage(name, **params)
        t = median_time(lambda s=stage: [s.process(b) for b in batches], args.runs)
        print(f"{name:<28}{docs / t:>14,.0f}{text_mb / t:>12.1f}")

    for name in ("unique_ids", "exact_dedup"):
        stage = IdCheck() if name == "unique_ids" else make_stage(name)

        def corpus_stage(stage=stage):
            mapped = []
            for b in batches:
                for col, arr in stage.map(b).items():
                    b = b.append_column(col, arr)
                mapped.append(pa.Table.from_batches([b]))
            drops = stage.reduce([TableShard(t) for t in mapped], RunContext())
            for b, d in zip(mapped, drops):
                apply_drops(b.to_batches()[0], 0, d)

        t = median_time(corpus_stage, args.runs)
        print(f"{name + ' (map+reduce+apply)':<28}{docs / t:>14,.0f}{text_mb / t:>12.1f}")

    recipe = Path(args.cache) / "recipe.yaml"
    recipe.write_text(
        f"inputs: [{corpus}]\nstages:\n  - normalize: {{}}\n  - length_filter: {{min_words: 50}}\n"
        "  - exact_dedup: {}\nwrite: {format: jsonl.gz, shard_docs: 100000}\n"
    )
    walls, peaks, totals = [], [], []
    for _ in range(args.runs):
        out = Path(args.cache) / "out"
        cmd = [sys.executable, "-m", "winnow.cli", "run", str(recipe), "-o", str(out)]
        cmd.append("--overwrite")
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT)
        peak, total = watch_rss(proc)
        walls.append(time.perf_counter() - t0)
        if proc.returncode:
            sys.exit(proc.stderr.read().decode())
        peaks.append(peak)
        totals.append(total)
    wall = statistics.median(walls)
    cores = os.cpu_count()
    print(
        f"\nwinnow run, default recipe, {cores} workers: {wall:.1f} s wall, "
        f"{text_mb / wall:.1f} MB/s ({text_mb / wall / cores:.1f} MB/s per core)"
    )
    print(f"peak RSS: largest process {max(peaks):.0f} MB, process tree {max(totals):.0f} MB")
    print("(this process holds the whole corpus for the per-stage timings; `winnow run` streams)")
    web_recipe(corpus, Path(args.cache), text_mb, args.runs, args.baseline)


if __name__ == "__main__":
    main()
