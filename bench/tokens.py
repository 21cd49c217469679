"""Tokenization and packing speed (run by hand, not a test):

    python bench/tokens.py [--docs 50000] [--vocab 16000] [--runs 3] [--no-workers] [--no-pack]

Documents: real text, shuffled with a seed (1,000-character windows of UDHR, licences and man
pages, and whole paper abstracts). A byte-level BPE is trained on a quarter of them (all
cores), then, as whole processes (a fresh one per run, pinned to one core, the tools
interleaved: ``bench/processes.py``) on the same documents in the same 2,048-document
batches:

- ``winnow``: the ``tokenize`` stage's per-batch work with that ``tokenizer.json``
  (``process``, as the engine calls it on every worker: Arrow text in, ``tokens``
  large_list<uint32> with the end-of-text id and ``n_tokens`` out);
- ``encode_batch``: the bare ``tokenizers`` ``Tokenizer.encode_batch`` on Python strings
  (the encodings counted, nothing converted);
- ``encode_batch_fast``: the same with ``encode_batch_fast`` (no offsets), which the stage
  uses.

Each with RAYON_NUM_THREADS=1. Prints the median over ``runs`` of tokens/s per core (tokens
of the text, the stage's end-of-text ids not counted) and the stage / bare ratios. Then
``winnow.run`` with workers=1 and workers=2, given tokenizer and ``train_vocab`` (trained on
a quarter of the documents, on the driver; encoded on the workers), unpinned, one Rust
thread per process (so workers=1 is one core, not the tokenizers' thread pool): wall
seconds, CPU seconds of the run's processes and the cores that makes. Last, each ``pack`` strategy
packs the stage's tokens into 2,048-token sequences (written to files, a window of documents
at a time, as the sink does): tokens/s, truncated documents and padding.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing.forkserver
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

BATCH = 2048  # the engine's read.batch_docs
TOOLS = ("winnow", "encode_batch", "encode_batch_fast")


def build_corpus(path: Path, n_docs: int, seed: int = 0) -> None:
    """``n_docs`` real documents as JSON Lines (``id``, ``text``), kinds mixed by a seed."""
    import orjson
    from quality import kilobyte_windows

    from tests.conftest import corpus_records

    docs = kilobyte_windows("udhr", 10**6) + kilobyte_windows("copyright", 10**6)
    docs += [r["text"] for r in corpus_records("abstracts")]
    docs += kilobyte_windows("manpages", max(0, n_docs - len(docs)))
    random.Random(seed).shuffle(docs)
    if len(docs) < n_docs:
        raise SystemExit(f"only {len(docs):,} documents in the shared corpora")
    with open(path, "wb") as fh:
        for i, text in enumerate(docs[:n_docs]):
            fh.write(orjson.dumps({"id": f"d{i:06d}", "text": text}) + b"\n")


def read_texts(corpus: Path) -> list[str]:
    import orjson

    with open(corpus, "rb") as fh:
        return [orjson.loads(line)["text"] for line in fh]


def child_encode(tool: str, corpus: Path, tokenizer: Path, work: Path) -> dict:
    """One tool's encoding of every document, timed; the winnow stage's tokens are left in
    ``work`` for the pack figures."""
    import pyarrow as pa

    texts = read_texts(corpus)
    if tool == "winnow":
        from winnow.api import _as_documents
        from winnow.stages.tokenize import Tokenize

        table = pa.table({"id": [f"d{i:06d}" for i in range(len(texts))], "text": texts})
        batches = _as_documents(table)[0].to_batches(max_chunksize=BATCH)
        stage = Tokenize(Tokenize.ParamsModel(tokenizer=str(tokenizer)))
        stage.process(batches[0].slice(0, 1))  # the tokenizer, loaded once per worker
        wall, cpu = time.perf_counter(), time.process_time()
        results = [stage.process(b).batch for b in batches]
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        n_tokens = pa.chunked_array([b.column("n_tokens") for b in results])
        tokens = int(pa.compute.sum(n_tokens).as_py()) - len(texts)  # less the end-of-text ids
        column = pa.chunked_array([b.column("tokens") for b in results])
        kept = pa.table({"id": table.column("id"), "tokens": column})
        with (
            pa.OSFile(str(work / "tokens.arrow"), "wb") as sink,
            pa.ipc.new_file(sink, kept.schema) as writer,
        ):
            writer.write_table(kept)
    else:
        from tokenizers import Tokenizer

        bare = Tokenizer.from_file(str(tokenizer))
        encode = bare.encode_batch if tool == "encode_batch" else bare.encode_batch_fast
        chunks = [texts[i : i + BATCH] for i in range(0, len(texts), BATCH)]
        encode(chunks[0][:1], add_special_tokens=False)
        wall, cpu = time.perf_counter(), time.process_time()
        tokens = 0
        for chunk in chunks:
            tokens += sum(map(len, encode(chunk, add_special_tokens=False)))
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {"seconds": wall, "cpu": cpu, "tokens": tokens}


def child_run(corpus: Path, tokenizer: Path, work: Path, workers: int, vocab: int | None) -> dict:
    """``winnow.run`` with the tokenize stage, in this process and its workers: the given
    tokenizer, or (``vocab``) one trained on a quarter of the documents."""
    import winnow

    params = {"tokenizer": str(tokenizer)}
    if vocab:
        with open(corpus, "rb") as fh:
            docs = sum(1 for _ in fh)
        params = {"train_vocab": vocab, "train_docs": docs // 4}
    recipe = {"inputs": [str(corpus)], "output": str(work / "out"),
              "stages": [{"tokenize": params}], "read": {"shard_mb": 4}}  # fmt: skip
    t0 = time.perf_counter()
    result = winnow.run(recipe, workers=workers)
    seconds = time.perf_counter() - t0
    server = getattr(multiprocessing.forkserver, "_forkserver", None)
    if server is not None:  # the workers' CPU time counts once their fork server is reaped
        server._stop()
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime
    (stage,) = [s for s in result.stats["stages"] if s["name"] == "tokenize"]
    phases = result.stats["phase_seconds"]
    return {"seconds": seconds, "cpu": cpu, "stage_seconds": stage["seconds"],
            "reduce_seconds": phases.get("reduce tokenize", 0.0)}  # fmt: skip


def paired_encoding(args, scratch: Path, corpus: Path, tokenizer: Path) -> Path:
    """The three tools interleaved, ``runs`` each; prints the medians; returns the stage's
    tokens (kept from its first run)."""
    from processes import interleaved, pinned_core

    tokens: dict[str, list[int]] = {t: [] for t in TOOLS}
    cpus: dict[str, list[float]] = {t: [] for t in TOOLS}
    kept = scratch / "stage-tokens.arrow"

    def collect(tool: str, work: Path) -> None:
        result = json.loads((work / "result.json").read_text())
        tokens[tool].append(result["tokens"])
        cpus[tool].append(result["cpu"])
        if tool == "winnow" and not kept.exists():
            shutil.move(work / "tokens.arrow", kept)

    env = {**os.environ, "RAYON_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    child_args = ["--corpus", str(corpus), "--tokenizer", str(tokenizer)]
    walls, inner = interleaved(__file__, TOOLS, args.runs, scratch, child_args, collect, env)
    counts = {t: set(v) for t, v in tokens.items()}
    if len(set().union(*counts.values())) != 1:
        raise RuntimeError(f"the tools counted different tokens: {counts}")
    total = tokens["winnow"][0]
    print(f"encoding, one process per run pinned to core {pinned_core()}, RAYON_NUM_THREADS=1, "
          f"{args.runs} interleaved runs each, {total:,} tokens of text:")  # fmt: skip
    print(f"  {'':<30}{'tokens/s':>12}{'tokens/s':>12}{'process':>10}")
    print(f"  {'':<30}{'(wall)':>12}{'(CPU)':>12}{'wall s':>10}")
    for tool in TOOLS:
        rate = total / statistics.median(inner[tool])
        cpu_rate = total / statistics.median(cpus[tool])
        label = "tokenize stage" if tool == "winnow" else f"tokenizers {tool}"
        print(f"  {label:<30}{rate:>12,.0f}{cpu_rate:>12,.0f}"
              f"{statistics.median(walls[tool]):>10.1f}")  # fmt: skip
    for clock, seconds in (("wall", inner), ("CPU", cpus)):
        for bare in ("encode_batch", "encode_batch_fast"):
            median = statistics.median(seconds[bare]) / statistics.median(seconds["winnow"])
            pairs = [b / w for w, b in zip(seconds["winnow"], seconds[bare])]
            print(f"  stage / {bare:<18} ({clock:>4}): {median:.3f} "
                  f"(paired runs: {', '.join(f'{r:.3f}' for r in pairs)})")  # fmt: skip
    return kept


def machine_ticks() -> tuple[int, int]:
    """Busy and total jiffies of every core of the machine, whoever used them."""
    with open("/proc/stat") as fh:
        values = [int(v) for v in fh.readline().split()[1:]]
    idle = values[3] + values[4]  # idle, iowait
    return sum(values) - idle, sum(values)


def workers_check(args, scratch: Path, corpus: Path, tokenizer: Path) -> None:
    """``winnow.run`` with 1 and 2 workers (given tokenizer; trained), unpinned: wall and CPU
    seconds of the run's processes, the summed seconds of its tokenize tasks over the wall
    time of the run (above 1: shard tasks encoding at once), and how busy the machine was
    (other programs included), to tell a second core that was used from one that was not
    free."""
    cores = len(os.sched_getaffinity(0))
    print(f"winnow.run, tokenize only, unpinned ({cores} cores here), fresh process each:")
    print(f"  {'':<26}{'wall s':>8}{'CPU s':>8}{'cores':>7}{'stage s':>9}{'reduce s':>10}"
          f"{'tasks at once':>15}{'machine busy':>14}")  # fmt: skip
    env = {**os.environ, "RAYON_NUM_THREADS": "1"}  # workers=1: one core, not Rust threads
    for trained in (False, True):
        walls = {}
        for workers in (1, 2):
            work = scratch / f"run-{int(trained)}-{workers}"
            work.mkdir()
            vocab = args.vocab if trained else 0
            cmd = [sys.executable, __file__, "--child", "run", "--work", str(work),
                   "--corpus", str(corpus), "--tokenizer", str(tokenizer),
                   "--workers", str(workers), "--vocab", str(vocab)]  # fmt: skip
            busy, total = machine_ticks()
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
            busy, total = (a - b for a, b in zip(machine_ticks(), (busy, total)))
            if proc.returncode:
                raise RuntimeError(proc.stderr[-3000:])
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            walls[workers] = r["seconds"]
            label = f"{'train_vocab' if trained else 'given tokenizer'}, workers={workers}"
            at_once = r["stage_seconds"] / (r["seconds"] - r["reduce_seconds"])
            print(f"  {label:<26}{r['seconds']:>8.1f}{r['cpu']:>8.1f}"
                  f"{r['cpu'] / r['seconds']:>7.2f}{r['stage_seconds']:>9.1f}"
                  f"{r['reduce_seconds']:>10.1f}{at_once:>15.2f}"
                  f"{busy / max(total, 1):>14.0%}")  # fmt: skip
            shutil.rmtree(work)
        print(f"  {'':<26}workers=2 / workers=1 wall: {walls[2] / walls[1]:.2f}")


def pack_figures(args, scratch: Path, kept: Path) -> None:
    import numpy as np
    import pyarrow as pa

    from winnow.stages.pack import PackParams, SequenceWriter

    with pa.memory_map(str(kept)) as source:
        table = pa.ipc.open_file(source).read_all()
    total = int(pa.compute.sum(pa.compute.list_value_length(table.column("tokens"))).as_py())
    folder = scratch / "pack"
    print(f"pack, {total:,} tokens (with end-of-text ids), in this process:")
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
        print(f"  {strategy:<9} {total / statistics.median(times):>14,.0f} tokens/s; "
              f"truncated {stats['documents_truncated']:,} documents, padding "
              f"{stats['padding_fraction']:.2%}")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=50_000)
    ap.add_argument("--vocab", type=int, default=16_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--no-workers", dest="workers_check", action="store_false")
    ap.add_argument("--no-pack", dest="pack", action="store_false")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--work", help=argparse.SUPPRESS)
    ap.add_argument("--corpus", help=argparse.SUPPRESS)
    ap.add_argument("--tokenizer", help=argparse.SUPPRESS)
    ap.add_argument("--workers", type=int, default=1, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        corpus, tokenizer, work = Path(args.corpus), Path(args.tokenizer), Path(args.work)
        if args.child == "run":
            result = child_run(corpus, tokenizer, work, args.workers, args.vocab)
        else:
            result = child_encode(args.child, corpus, tokenizer, work)
            (work / "result.json").write_text(json.dumps(result))
        print(json.dumps(result))
        return
    from winnow.stages.tokenize import train_bpe

    scratch = Path(tempfile.mkdtemp(prefix="winnow-tokens-bench-"))
    try:
        corpus = scratch / "corpus.jsonl"
        build_corpus(corpus, args.docs)
        texts = read_texts(corpus)
        t0 = time.perf_counter()
        tokenizer = scratch / "tokenizer.json"
        tokenizer.write_text(train_bpe(iter(texts[::4]), args.vocab, length=len(texts[::4])))
        print(f"{len(texts):,} documents ({corpus.stat().st_size / 1e6:.0f} MB of JSON Lines); "
              f"BPE ({args.vocab:,}) trained on a quarter of them in "
              f"{time.perf_counter() - t0:.1f} s")  # fmt: skip
        del texts
        kept = paired_encoding(args, scratch, corpus, tokenizer)
        if args.workers_check:
            workers_check(args, scratch, corpus, tokenizer)
        if args.pack:
            pack_figures(args, scratch, kept)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
