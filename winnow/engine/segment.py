"""One segment over one shard: the unit of work a worker runs and checkpoints."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from winnow.engine.id_check import IdCheck
from winnow.engine.layout import Layout, read_json, tmp_path, write_json_atomic
from winnow.engine.passes import batch_verdict, conform, decision_verdict
from winnow.engine.plan import Segment, build_stages, plan_segments
from winnow.engine.stats import StatsBook, text_bytes
from winnow.io.arrow_files import INTERMEDIATE_READ, ShardFile, load_columns, scratch_writer
from winnow.io.inputs import InputFile
from winnow.io.read import READ_STAGE, read_shard
from winnow.ledger import Ledger
from winnow.plugins import import_plugins
from winnow.schema import DOC_SCHEMA
from winnow.stages.base import RowResult, RunContext, SinkStage

READ_INDEX = -1


@dataclass(frozen=True)
class TaskSpec:
    """Everything a worker needs; plain data so it crosses process boundaries."""

    out: str
    stages_json: str
    batch_docs: int
    batch_bytes: int
    plugins: tuple[str, ...] = ()
    """Modules that register the recipe's plugin stages, imported in every worker."""
    work: str | None = None
    """The run's scratch folder (``OUT/_work`` when None)."""
    scratch_compression: str = "none"
    """How segment and sink files are compressed (``SCRATCH_OPTIONS``)."""


_PLANS: dict[str, list[Segment]] = {}


def segments_of(spec: TaskSpec) -> list[Segment]:
    """The plan, built once per process (stages may hold models): the id check (stage 0),
    then the recipe's stages (numbered from 1)."""
    if spec.stages_json not in _PLANS:
        import_plugins(list(spec.plugins))
        stages = build_stages(orjson.loads(spec.stages_json))
        _PLANS[spec.stages_json] = plan_segments([IdCheck(), *stages])
    return _PLANS[spec.stages_json]


class _SinkFiles:
    """The columns each sink of a segment keeps from one shard, written beside the segment
    (under temporary names until ``close``)."""

    def __init__(self, layout: Layout, shard: int, compression: str) -> None:
        self.layout, self.shard, self.compression = layout, shard, compression
        self.open: dict[int, tuple] = {}

    def write(self, index: int, columns: dict[str, pa.Array]) -> None:
        batch = pa.RecordBatch.from_pydict(columns)
        if not batch.num_rows:
            return
        if index not in self.open:
            path = self._path(index)
            path.parent.mkdir(parents=True, exist_ok=True)
            sink = pa.OSFile(str(tmp_path(path)), "wb")
            writer = scratch_writer(sink, batch.schema, self.compression)
            self.open[index] = (path, sink, writer)
        self.open[index][2].write_batch(batch)

    def _path(self, index: int):
        return self.layout.sink_part(index, self.shard)

    def close(self) -> None:
        for path, sink, writer in self.open.values():
            writer.close()
            sink.close()
            os.replace(tmp_path(path), path)


class _RemovedFiles(_SinkFiles):
    """The documents the stages in ``names`` removed from one shard (their document
    columns), kept for a later stage that reads them (``Stage.removed_by``)."""

    def __init__(
        self, layout: Layout, shard: int, compression: str, names: frozenset[str]
    ) -> None:
        super().__init__(layout, shard, compression)
        self.names = names

    def _path(self, index: int):
        return self.layout.removed_docs(index, self.shard)

    def write(self, index: int, batch: pa.RecordBatch) -> None:
        columns = {f.name: batch.column(f.name) for f in DOC_SCHEMA}
        super().write(index, columns)


def removed_names(spec: TaskSpec) -> frozenset[str]:
    """The stages whose removed documents a later stage reads."""
    stages = (st for seg in segments_of(spec) for _, st in seg.stages())
    return frozenset(n for st in stages for n in st.removed_by())


def _iter_intermediate(path: os.PathLike) -> Iterator[pa.RecordBatch]:
    with pa.memory_map(str(path)) as source:
        reader = pa.ipc.open_file(source, options=INTERMEDIATE_READ)
        for i in range(reader.num_record_batches):
            yield reader.get_batch(i)


def _private_columns(batch: pa.RecordBatch) -> list[str]:
    return [n for n in batch.schema.names if n.startswith("_")]


class _Recorder:
    """Records a stage's verdict (``winnow.engine.passes``): counts, ledger rows (and the
    removed documents a later stage reads, ``keep``), and the surviving rows."""

    def __init__(self, book: StatsBook, ledger: Ledger, keep: _RemovedFiles | None = None):
        self.book, self.ledger, self.keep = book, ledger, keep

    def apply(
        self, index: int, name: str, before: pa.RecordBatch, result: RowResult, t0: float,
        generated: bool = False,
    ):  # fmt: skip
        """``generated``: the batch holds documents the stage made, not ones it received."""
        st = self.book.get(index, name)
        batch = result.batch
        reason = result.reason
        has_drops = reason is not None and reason.null_count < len(reason)
        bytes_in, bytes_out = st.observe(before, batch, reason if has_drops else None)
        if generated:
            st.generated += before.num_rows
        else:
            st.docs_in += before.num_rows
            st.bytes_in += bytes_in
        if has_drops:
            dropped = reason.is_valid()
            self.ledger.add_dropped(
                batch,
                name,
                dropped,
                reason,
                result.duplicate_of,
                result.cluster_size,
                result.reference_source,
                result.detail,
            )
            if self.keep is not None and name in self.keep.names:
                self.keep.write(index, batch.filter(dropped))
            counts = pc.filter(reason, dropped).value_counts().to_pylist()
            st.removed.update({d["values"]: d["counts"] for d in counts})
            batch = batch.filter(reason.is_null())
        st.docs_out += batch.num_rows
        st.bytes_out += bytes_out
        st.seconds += time.perf_counter() - t0
        return batch


def _source_batches(
    spec: TaskSpec, seg: Segment, shard: int, files: tuple[InputFile, ...], rec: _Recorder
):
    """Batches entering the segment's row stages: read from inputs, or the previous segment's
    output with the corpus stage's decisions applied (then the documents it made)."""
    layout = Layout(spec.out, spec.work)
    book, ledger = rec.book, rec.ledger
    if seg.applies is None:
        read = book.get(READ_INDEX, READ_STAGE)
        t0 = time.perf_counter()
        for batch, invalid in read_shard(
            list(files), spec.batch_docs, spec.batch_bytes, skipped=read.skipped
        ):
            n_ok = batch.num_rows if batch is not None else 0
            read.docs_in += n_ok + len(invalid)
            read.docs_out += n_ok
            read.removed.update(invalid.reasons)
            ledger.extend(invalid)
            if batch is not None:
                nbytes = text_bytes(batch)
                read.bytes_in += nbytes
                read.bytes_out += nbytes
                read.seconds += time.perf_counter() - t0
                yield batch
            t0 = time.perf_counter()
        return
    index, stage = seg.applies
    drops = load_columns(layout.drops(seg.index, shard), None)
    offset = 0
    for batch in _iter_intermediate(layout.segment_docs(seg.index - 1, shard)):
        t0 = time.perf_counter()
        result = decision_verdict(stage, batch, offset, drops)
        offset += batch.num_rows
        kept = rec.apply(index, stage.name, batch, result, t0)
        yield kept.drop_columns(_private_columns(kept))
    t0 = time.perf_counter()
    made = stage.generated(drops)
    if made is not None and made.batch.num_rows:
        made.batch = conform(made.batch, _applied_schema(spec, seg.index))
        kept = rec.apply(index, stage.name, made.batch, made, t0, generated=True)
        yield kept


def _applied_schema(spec: TaskSpec, seg_index: int) -> pa.Schema:
    """The schema of a segment's batches once its corpus stage's decisions are applied."""
    before = output_schema(spec, seg_index - 1)
    batch = pa.RecordBatch.from_arrays([pa.array([], f.type) for f in before], schema=before)
    batch = batch.drop_columns(_private_columns(batch))
    stage = segments_of(spec)[seg_index].applies[1]
    return stage.apply(batch, 0, stage.decision_schema.empty_table()).batch.schema


_SCHEMAS: dict[tuple[str, int], pa.Schema] = {}


def output_schema(spec: TaskSpec, seg_index: int) -> pa.Schema:
    """The schema a segment writes (found once per process, ``_empty_pass``)."""
    key = (spec.stages_json, seg_index)
    if key not in _SCHEMAS:
        _SCHEMAS[key] = _empty_pass(spec, seg_index)
    return _SCHEMAS[key]


def _empty_pass(spec: TaskSpec, seg_index: int) -> pa.Schema:
    """The schema a segment writes, found by running its stages on an empty batch."""
    empty = [pa.array([], f.type) for f in DOC_SCHEMA]
    batch = pa.RecordBatch.from_arrays(empty, schema=DOC_SCHEMA)
    for seg in segments_of(spec)[: seg_index + 1]:
        batch = batch.drop_columns(_private_columns(batch))
        if seg.applies is not None:
            stage = seg.applies[1]
            batch = stage.apply(batch, 0, stage.decision_schema.empty_table()).batch
        for _, stage in seg.rows:
            if not isinstance(stage, SinkStage):  # a sink passes the batch on as it is
                batch = stage.process(batch).batch
        if seg.maps is not None:
            for name, col in seg.maps[1].map(batch).items():
                batch = batch.append_column(name, col)
    return batch.schema


def call(fn, *args):
    """``fn(*args)``: lets one batch of worker tasks mix task kinds."""
    return fn(*args)


def finish_sink(spec: TaskSpec, seg_index: int, index: int, n_shards: int) -> dict:
    """Run sink ``index`` of segment ``seg_index`` over every shard's kept columns, once (a
    resumed run reads what it recorded); the kept columns go afterwards."""
    layout = Layout(spec.out, spec.work)
    done = layout.sink_done(index)
    if not done.exists():
        (stage,) = [s for i, s in segments_of(spec)[seg_index].rows if i == index]
        t0 = time.perf_counter()
        parts = [layout.sink_part(index, s) for s in range(n_shards)]
        shards = [ShardFile(str(p)) for p in parts if p.exists()]
        summary = stage.finish(shards, RunContext(artifacts=layout.artifacts(index, stage.name)))
        write_json_atomic(done, {"seconds": time.perf_counter() - t0, "summary": summary})
    for s in range(n_shards):
        layout.sink_part(index, s).unlink(missing_ok=True)
    return read_json(done)


def run_segment(
    spec: TaskSpec, seg_index: int, shard: int, files: tuple[InputFile, ...] = ()
) -> dict:
    """Run one segment on one shard and checkpoint it; returns the shard's stats.
    Segment 0 reads ``files``; later segments read the previous segment's output."""
    layout = Layout(spec.out, spec.work)
    if layout.segment_done(seg_index, shard).exists():  # a retried task that had finished:
        return read_json(layout.segment_done(seg_index, shard))  # its input may be gone
    seg = segments_of(spec)[seg_index]
    book, ledger = StatsBook(), Ledger()
    for entry in [seg.applies, *seg.rows, seg.maps]:
        if entry is not None:  # every stage appears in the stats, even if no document reaches it
            book.get(entry[0], entry[1].name)
    if seg.applies is None:
        book.get(READ_INDEX, READ_STAGE)
    compression = spec.scratch_compression
    removed = _RemovedFiles(layout, shard, compression, removed_names(spec))
    rec = _Recorder(book, ledger, removed)
    schema = output_schema(spec, seg_index)
    out_path = layout.segment_docs(seg_index, shard)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = tmp_path(out_path)
    kept = 0
    sinks = _SinkFiles(layout, shard, compression)
    with (
        pa.OSFile(str(tmp), "wb") as sink,
        scratch_writer(sink, schema, compression) as writer,
    ):
        for batch in _source_batches(spec, seg, shard, files, rec):
            for index, stage in seg.rows:
                t0 = time.perf_counter()
                result = batch_verdict(stage, batch, partial(sinks.write, index))
                batch = rec.apply(index, stage.name, batch, result, t0)
            if seg.maps is not None:
                index, stage = seg.maps
                t0 = time.perf_counter()
                st = book.get(index, stage.name)
                for name, col in stage.map(batch).items():
                    batch = batch.append_column(name, col)
                st.seconds += time.perf_counter() - t0
            if batch.num_rows:
                writer.write_batch(pa.record_batch(batch.columns, schema=schema))
                kept += batch.num_rows
    os.replace(tmp, out_path)
    sinks.close()
    removed.close()
    if len(ledger):
        _write_ledger(layout.ledger_piece(seg_index, shard), ledger)
    stats = {"kept": kept, "ledger_rows": len(ledger), "stages": book.to_json()}
    write_json_atomic(layout.segment_done(seg_index, shard), stats)
    if seg.applies is not None:  # read again by no one: a resumed run starts from here
        layout.segment_docs(seg_index - 1, shard).unlink(missing_ok=True)
        layout.drops(seg_index, shard).unlink(missing_ok=True)
    return stats


def _write_ledger(path, ledger: Ledger) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = tmp_path(path)
    pq.write_table(ledger.table(), tmp, compression="zstd")
    os.replace(tmp, path)
