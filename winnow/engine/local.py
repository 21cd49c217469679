"""The local executor: a process pool over shards, phase by phase, resumable.

Phases run in order: for each segment, the corpus stage's reduce (in this process) and then
one task per shard; finally one task per output part. A finished task leaves a file renamed
into place, so ``resume`` skips it; tasks are deterministic, so resumed output is identical.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import shutil
import signal
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import xxhash

from winnow.engine.collector import BATCH_THRESHOLDS, batch_collection
from winnow.engine.errors import RunFailed
from winnow.engine.layout import Layout, read_json, tmp_path, write_json_atomic
from winnow.engine.plan import sinks_of
from winnow.engine.publish import check_url_output, publish
from winnow.engine.segment import (
    READ_INDEX,
    TaskSpec,
    call,
    finish_sink,
    run_segment,
    segments_of,
)
from winnow.engine.stats import StatsBook
from winnow.engine.write import count_rows, doc_sizes, plan_parts, write_ledger, write_part
from winnow.io.arrow_files import ShardFile, load_columns
from winnow.io.inputs import group_shards, unsplittable
from winnow.io.remote import is_url, staging_folder
from winnow.recipe import ResolvedRecipe, WriteConfig, recipe_yaml
from winnow.report.html import write_report
from winnow.schema import INVALID
from winnow.stages.base import RunContext


@dataclass
class RunResult:
    output: str
    stats: dict


def fingerprint(recipe: ResolvedRecipe) -> str:
    """Identifies a recipe + inputs (and the files its stages read); a resumed run must
    match the interrupted one. Where scratch lives (``work_dir``) and how it is stored
    (``scratch_compression``; either is read back) are not part of it: a resume that names
    another place is told where the checkpoints are."""
    scratch = ("work_dir", "scratch_compression")
    plain = {k: v for k, v in recipe.to_dict().items() if k not in scratch}
    return xxhash.xxh3_128_hexdigest(orjson.dumps(plain, option=orjson.OPT_SORT_KEYS))


@contextmanager
def _progress_bar(label: str, total: int, show: bool) -> Iterator[Callable[[], None]]:
    """A rich progress bar on stderr (imported only when one is shown); yields ``advance``."""
    if not show:
        yield lambda: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, TimeElapsedColumn(), console=Console(stderr=True)) as progress:
        bar = progress.add_task(label, total=total)
        yield lambda: progress.advance(bar)


class _Runner:
    def __init__(self, workers: int, show_progress: bool) -> None:
        self.count = workers
        self.pool: ProcessPoolExecutor | None = None
        if workers > 1:
            ctx = multiprocessing.get_context("forkserver")
            ctx.set_forkserver_preload(["winnow.engine.preload"])
            self.pool = ProcessPoolExecutor(
                max_workers=workers,
                mp_context=ctx,
                initializer=_start_worker,
                initargs=(_worker_environment(workers),),
            )
        self.show = show_progress and sys.stderr.isatty()

    def map(self, label: str, fn: Callable, calls: Iterable[tuple]) -> list:
        calls = list(calls)
        results: list = [None] * len(calls)
        with _progress_bar(label, len(calls), self.show) as advance:
            if self.pool is None:
                for i, args in enumerate(calls):
                    results[i] = fn(*args)
                    advance()
                return results
            futures: dict[Future, int] = {
                self.pool.submit(_task, fn, *a): i for i, a in enumerate(calls)
            }
            pending = set(futures)
            try:
                while pending:
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for f in done:
                        results[futures[f]] = f.result()
                        advance()
            except BaseException:
                for f in pending:
                    f.cancel()
                raise
        return results

    def close(self, wait_for: bool = True) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=wait_for, cancel_futures=True)


def _worker_environment(workers: int) -> dict[str, str]:
    """This run's environment, with the native thread pools of each worker (Hugging Face
    tokenizers' Rust threads) sized to its share of the cores, so workers do not
    oversubscribe them; a variable the user set wins."""
    env = dict(os.environ)
    threads = max(1, (os.cpu_count() or 1) // workers)
    env.setdefault("WINNOW_WORKER_THREADS", str(threads))  # a local language model's torch
    if threads == 1:
        env.setdefault("TOKENIZERS_PARALLELISM", "false")
    else:
        env.setdefault("RAYON_NUM_THREADS", str(threads))
    return env


def _start_worker(env: dict[str, str]) -> None:
    """Give a worker this run's environment, exactly (credentials set, or unset, since the
    forkserver, which outlives runs, started), the collector set for batch work, and its
    Ctrl-C handling (``_interrupt_task``)."""
    os.environ.clear()
    os.environ.update(env)
    gc.set_threshold(*BATCH_THRESHOLDS)
    signal.signal(signal.SIGINT, _interrupt_task)


_IN_TASK = False
"""Whether this worker is running a task (``_task``)."""


def _task(fn: Callable, *args):
    """Run one task in a worker, marked as running for ``_interrupt_task``."""
    global _IN_TASK
    _IN_TASK = True
    try:
        return fn(*args)
    finally:
        _IN_TASK = False


def _interrupt_task(signum, frame) -> None:
    """Ctrl-C reaches the workers with the driver (one process group). A task stops with
    ``KeyboardInterrupt``, which goes back to the driver; an idle worker ignores it (the
    default handler raised it in multiprocessing's queue and printed a traceback) and leaves
    when the driver shuts the pool down."""
    if _IN_TASK:
        raise KeyboardInterrupt


def _work_folder(recipe: ResolvedRecipe, fp: str) -> Path | None:
    """Scratch on another disk (``work_dir``): a folder per recipe and inputs, so runs that
    share the disk do not meet and a resumed run finds its checkpoints."""
    return Path(recipe.work_dir) / f"winnow-{fp[:16]}" if recipe.work_dir else None


def _check_scratch_place(layout: Layout) -> None:
    """A resumed run must find its checkpoints where the interrupted one kept them."""
    location = layout.meta / "location"
    kept = Path(location.read_text()) if location.exists() else layout.meta
    if kept.resolve() != layout.work.resolve():
        how = "without --work-dir"
        if kept != layout.meta:
            how = f"with the same work_dir ({kept.parent})"
        raise RunFailed(
            f"{layout.out}: cannot resume here: the interrupted run keeps its checkpoints in "
            f"{kept}; resume {how}",
            2,
        )


def _prepare_output(layout: Layout, fp: str, resume: bool, overwrite: bool) -> bool:
    """Returns True when a finished run with the same fingerprint is already there."""
    fp_file = layout.meta / "fingerprint"
    if layout.out.exists() and any(layout.out.iterdir()):
        if resume:
            stats_file = layout.out / "stats.json"
            if stats_file.exists() and read_json(stats_file).get("fingerprint") == fp:
                return True
            if not fp_file.exists() or fp_file.read_text() != fp:
                raise RunFailed(
                    f"{layout.out}: cannot resume: it holds no interrupted run of this recipe and "
                    "these inputs (the recipe, its input files or a file a stage reads changed)",
                    2,
                )
            _check_scratch_place(layout)
            for leftover in [*layout.data.glob(".*.tmp-*"), *layout.ledger.glob(".*.tmp-*")]:
                leftover.unlink()
            return False
        if not overwrite:
            raise RunFailed(
                f"{layout.out}: output folder is not empty; pass --resume to continue an "
                "interrupted run or --overwrite to replace it",
                2,
            )
        if not any((layout.out / n).exists() for n in ("recipe.yaml", "stats.json", "_work")):
            raise RunFailed(
                f"{layout.out}: refusing to overwrite a folder that holds no winnow output", 2
            )
        layout.remove_scratch()  # also a scratch folder on another disk
        shutil.rmtree(layout.out)
    layout.prepare()
    fp_file.write_text(fp)
    (layout.work / "fingerprint").write_text(fp)  # marks a scratch folder on another disk
    return False


def execute(
    recipe: ResolvedRecipe,
    workers: int | None = None,
    resume: bool = False,
    overwrite: bool = False,
    strict: bool = False,
    progress: bool = True,
    executor: str = "local",
    address: str | None = None,
) -> RunResult:
    """Run a resolved recipe (see ``winnow.recipe.load_recipe``) on this machine's worker
    processes, or as Ray tasks (``executor="ray"``, on the cluster at ``address`` or a
    local one). An output URL is written through a local staging folder."""
    fp = fingerprint(recipe)
    url = recipe.output if is_url(recipe.output) else None
    if url is not None:
        finished = check_url_output(url, fp, resume, overwrite)
        if finished is not None:
            return RunResult(url, finished)
        layout = Layout(staging_folder(url), _work_folder(recipe, fp))
        if _prepare_output(layout, fp, resume, overwrite=True):
            publish(layout.out, url)
            return RunResult(url, read_json(layout.out / "stats.json"))
    else:
        layout = Layout(recipe.output, _work_folder(recipe, fp))
        if _prepare_output(layout, fp, resume, overwrite):
            return RunResult(str(layout.out), read_json(layout.out / "stats.json"))
    (layout.out / "recipe.yaml").write_text(recipe_yaml(recipe), encoding="utf-8")
    files = list(recipe.files)
    target = int(recipe.read.shard_mb * (1 << 20))
    shards = group_shards(files, target)
    spec = TaskSpec(
        out=str(layout.out),
        stages_json=orjson.dumps([s.to_dict() for s in recipe.stages]).decode(),
        batch_docs=recipe.read.batch_docs,
        batch_bytes=int(recipe.read.batch_mb * (1 << 20)),
        plugins=recipe.plugins,
        work=str(layout.work),
        scratch_compression=recipe.scratch_compression,
    )
    if executor == "ray":
        from winnow.engine.ray_runner import RayRunner

        runner = RayRunner(address, workers)
    elif executor == "local":
        runner = _Runner(workers or os.cpu_count() or 1, progress)
    else:
        raise RunFailed(f"unknown executor {executor!r} (local or ray)", 2)
    started = time.perf_counter()
    try:
        with batch_collection():
            stats = _run_phases(spec, layout, shards, recipe.write, runner, strict)
    except BrokenProcessPool as exc:
        runner.close(wait_for=False)
        raise RunFailed(
            "a worker process died (killed or out of memory); "
            "rerun with --resume to continue from the last finished shard"
        ) from exc
    except KeyboardInterrupt as exc:
        runner.close(wait_for=False)
        raise RunFailed("interrupted; rerun with --resume to continue", 130) from exc
    except BaseException:
        runner.close(wait_for=False)
        raise
    runner.close()
    stats["fingerprint"] = fp
    stats["unsplit_inputs"] = unsplittable(files, target)
    stats["seconds"] = round(time.perf_counter() - started, 3)
    write_json_atomic(layout.out / "stats.json", stats)
    layout.remove_scratch()
    try:
        write_report(layout.out)
    except Exception as err:  # the data is written and checked; a report bug must not hide it
        print(f"warning: report.html not written ({type(err).__name__}: {err})", file=sys.stderr)
    if url is not None:
        publish(layout.out, url)
        return RunResult(url, stats)
    return RunResult(str(layout.out), stats)


def _run_phases(spec, layout, shards, write: WriteConfig, runner, strict) -> dict:
    n_shards = len(shards)
    segments = segments_of(spec)
    names = {i: st.name for seg in segments for i, st in seg.rows}
    stage_seconds: dict[int, float] = {}  # reduces and sink finishes
    shuffled: dict[str, int] = {}
    llm: dict[str, dict] = {}
    skipped = 0
    phases: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        phases[name] = round(time.perf_counter() - clock, 3)
        clock = time.perf_counter()

    for seg in segments:
        if seg.applies is not None:
            done = _reduce(spec, layout, seg.index, n_shards, runner)
            stage_seconds[seg.applies[0]] = done["seconds"]
            key = f"{seg.applies[0]:02d}-{seg.applies[1].name}"
            if done.get("shuffled_bytes"):
                shuffled[key] = done["shuffled_bytes"]
            if done.get("llm"):
                llm[key] = done["llm"]
            if seg.index == 1 and strict:
                _check_strict(layout, n_shards)
            lap(f"reduce {seg.applies[1].name}")
        todo = [
            (spec, seg.index, s, tuple(shards[s]) if seg.index == 0 else ())
            for s in range(n_shards)
            if not layout.segment_done(seg.index, s).exists()
        ]
        skipped += n_shards - len(todo)
        label = "read" if seg.index == 0 else f"segment {seg.index}"
        runner.map(label, run_segment, todo)
        if seg.index:
            _release(layout, seg.index, n_shards)
        lap(label)
        if seg is not segments[-1] and sinks_of(seg):  # the last ones run beside the write
            calls = [(finish_sink, spec, seg.index, i, n_shards) for i, _ in sinks_of(seg)]
            stage_seconds.update(_finish_sinks(runner, calls, names))
            lap(f"sinks {seg.index}")
    last = segments[-1].index
    sizes = [doc_sizes(layout, last, s) for s in range(n_shards)]
    parts = plan_parts(sizes, write.shard_docs, write.shard_bytes)
    fmt = write.format
    chat = write.chat_format
    todo = [
        (spec.out, last, fmt, p, chat, spec.work, tuple(write.drop_columns))
        for p in parts
        if not layout.part(p.number, fmt).exists()
    ]
    skipped += len(parts) - len(todo)
    sinks = [(finish_sink, spec, last, i, n_shards) for i, _ in sinks_of(segments[-1])]
    stage_seconds.update(_finish_sinks(runner, [*sinks, *((write_part, *a) for a in todo)], names))
    write_ledger(layout, len(segments), n_shards)
    lap("write")
    paths = [(str(layout.part(p.number, fmt)), fmt) for p in parts]
    in_parts = sum(runner.map("verify", count_rows, paths))
    stats = _summarise(layout, segments, n_shards, stage_seconds, len(parts), in_parts)
    lap("verify")
    stats["tasks_resumed"] = skipped
    stats["shuffled_bytes"] = shuffled
    if llm:
        stats["llm"] = llm
    stats["phase_seconds"] = phases
    return stats


def _finish_sinks(runner, calls: list[tuple], names: dict[int, str]) -> dict[int, float]:
    """Run sink finishes (and, after the last segment, the write tasks beside them) on the
    workers; returns each sink's seconds by stage index."""
    if not calls:
        return {}
    sinks = [c[3] for c in calls if c[0] is finish_sink]
    label = "write" if len(sinks) < len(calls) else "sinks"
    try:
        results = runner.map(label, call, calls)
    except (ValueError, OSError) as err:  # a sink's bad input: say which
        raise RunFailed(f"stage {', '.join(names[i] for i in sinks)}: {err}", 2) from err
    return {c[3]: r["seconds"] for c, r in zip(calls, results) if c[0] is finish_sink}


def _release(layout: Layout, seg: int, n_shards: int) -> None:
    """Segment ``seg`` is checkpointed on every shard: its reduce's scratch is never read
    again (a resumed run starts from ``seg``), so it goes now, not when the run ends, with
    any previous-segment file a killed task left (each task deletes its shard's own)."""
    for s in range(n_shards):
        layout.segment_docs(seg - 1, s).unlink(missing_ok=True)
        layout.drops(seg, s).unlink(missing_ok=True)
    shutil.rmtree(layout.drops(seg, 0).parent / "scratch", ignore_errors=True)


def _reduce(spec: TaskSpec, layout: Layout, seg: int, n_shards: int, runner) -> dict:
    """Run a corpus stage's reduce (once: a resumed run reads what it recorded)."""
    done = layout.reduce_done(seg)
    if done.exists():
        return read_json(done)
    index, stage = segments_of(spec)[seg].applies
    run = RunContext(
        artifacts=layout.artifacts(index, stage.name),
        workers=runner,
        scratch=layout.drops(seg, 0).parent / "scratch",
        removed=_removed_documents(spec, layout, seg, n_shards),
    )
    t0 = time.perf_counter()
    loaders = [ShardFile(str(layout.segment_docs(seg - 1, s))) for s in range(n_shards)]
    try:
        drops = stage.reduce(loaders, run)
    except (ValueError, OSError) as err:  # a bad model or reference file: say which stage
        raise RunFailed(f"stage {stage.name}: {err}", 2) from err
    for s, table in enumerate(drops):
        path = layout.drops(seg, s)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = tmp_path(path)
        with pa.OSFile(str(tmp), "wb") as sink, pa.ipc.new_file(sink, table.schema) as w:
            w.write_table(table)
        os.replace(tmp, path)
    record = {
        "seconds": time.perf_counter() - t0,
        "dropped": sum(t.num_rows for t in drops),
        "shuffled_bytes": run.shuffled_bytes,
        **({"llm": run.llm} if run.llm else {}),
    }
    write_json_atomic(done, record)
    return record


def _removed_documents(spec: TaskSpec, layout: Layout, seg: int, n_shards: int):
    """Per shard, what the earlier stages named by segment ``seg``'s corpus stage's
    ``removed_by()`` removed (None when it names none)."""
    names = segments_of(spec)[seg].applies[1].removed_by()
    if not names:
        return None
    earlier = [i for s in segments_of(spec)[:seg] for i, st in s.stages() if st.name in names]
    paths = [[layout.removed_docs(i, s) for i in earlier] for s in range(n_shards)]
    return [[ShardFile(str(p)) for p in shard if p.exists()] for shard in paths]


def _check_strict(layout: Layout, n_shards: int) -> None:
    """--strict: any invalid input (bad records or reused ids) fails the run."""
    examples, count = [], 0
    for path in sorted((layout.work / "ledger").glob("seg00-*.parquet")):
        t = pq.read_table(path)
        count += t.num_rows
        examples += [f"{r['source']}: {r['reason']}" for r in t.slice(0, 5).to_pylist()]
    for s in range(n_shards):
        if layout.drops(1, s).exists():  # the reused ids, before segment 1 applies them
            drops = load_columns(layout.drops(1, s), None)
        else:  # segment 1 is done (a resumed run): its ledger holds them
            piece = layout.ledger_piece(1, s)
            rows = pq.read_table(piece) if piece.exists() else None
            if rows is None or not rows.num_rows:
                continue
            drops = rows.filter(pc.equal(rows.column("reason"), f"{INVALID}:duplicate_id"))
        if drops.num_rows:
            count += drops.num_rows
            ids = drops.column("duplicate_of").slice(0, 5).to_pylist()
            examples += [f"id {i!r} used again ({INVALID}:duplicate_id)" for i in ids]
    if count:
        shown = "\n".join(f"  {e}" for e in examples[:5])
        raise RunFailed(f"--strict: {count} invalid input record(s), for example:\n{shown}", 2)


def _summarise(layout, segments, n_shards, stage_seconds, n_parts, in_parts) -> dict:
    book, kept, ledger_rows = StatsBook(), 0, 0
    for seg in segments:
        for s in range(n_shards):
            d = read_json(layout.segment_done(seg.index, s))
            book.merge(StatsBook.from_json(d["stages"]))
            ledger_rows += d["ledger_rows"]
            if seg is segments[-1]:
                kept += d["kept"]
    for index, seconds in stage_seconds.items():
        book.stages[index].seconds += seconds
    written = sum(pq.ParquetFile(p).metadata.num_rows for p in layout.ledger.glob("*.parquet"))
    input_docs = book.stages[READ_INDEX].docs_in
    generated = sum(st.generated for st in book.stages.values())
    if written != ledger_rows or in_parts != kept or input_docs + generated != kept + written:
        raise RunFailed(
            f"conservation check failed: {input_docs} input documents and {generated} "
            f"generated, {in_parts} written ({kept} expected), {written} ledger rows "
            f"({ledger_rows} expected)"
        )
    return {
        "input_docs": input_docs,
        "generated_docs": generated,
        "output_docs": kept,
        "ledger_rows": written,
        "output_parts": n_parts,
        "stages": [s.to_json() for _, s in sorted(book.stages.items())],
    }
