"""A stage's verdict on one batch, taken the same way in a run and in ``apply_stage``: a row
stage's ``process``, a sink's ``map`` (its columns handed on, the batch unchanged) or a
corpus stage's ``apply`` of its decisions, then every edit of a chat row's ``text`` carried
into its turns (``winnow.chat.edits.follow``)."""

from __future__ import annotations

from collections.abc import Callable

import pyarrow as pa

from winnow.chat.edits import follow
from winnow.stages.base import (
    CorpusStage,
    RowResult,
    RunContext,
    SinkStage,
    Stage,
    TableShard,
)


def batch_verdict(
    stage: Stage, batch: pa.RecordBatch, keep: Callable[[dict[str, pa.Array]], None] | None = None
) -> RowResult:
    """A row stage's or a sink's verdict (``keep`` receives the columns a sink keeps)."""
    if isinstance(stage, SinkStage):
        kept = stage.map(batch)
        if keep is not None:
            keep(kept)
        return RowResult(batch)
    result = stage.process(batch)
    result.batch = follow(batch, result.batch)
    return result


def decision_verdict(
    stage: CorpusStage, batch: pa.RecordBatch, offset: int, decisions: pa.Table
) -> RowResult:
    """A corpus stage's decisions applied to a batch whose first row is shard row ``offset``."""
    result = stage.apply(batch, offset, decisions)
    result.batch = follow(batch, result.batch)
    return result


def table_verdict(stage: Stage, batch: pa.RecordBatch) -> RowResult:
    """Any stage on one batch that is the whole corpus (``apply_stage``): a corpus stage maps,
    reduces over the batch as its one shard and applies; a sink also finishes (into its
    ``path:`` if it has one)."""
    if isinstance(stage, SinkStage):
        kept: list[dict] = []
        result = batch_verdict(stage, batch, kept.append)
        table = pa.Table.from_batches([pa.RecordBatch.from_pydict(kept[0])])
        stage.finish([TableShard(table)] if table.num_rows else [], RunContext())
        return result
    if not isinstance(stage, CorpusStage) or not stage.barrier:
        return batch_verdict(stage, batch)
    signed = batch
    for name, column in stage.map(batch).items():
        signed = signed.append_column(name, column)
    (decisions,) = stage.reduce([TableShard(pa.Table.from_batches([signed]))], RunContext())
    result = decision_verdict(stage, signed, 0, decisions)
    made = stage.generated(decisions)
    if made is not None:
        result = _with_made(result, made)
    private = [n for n in result.batch.schema.names if n.startswith("_")]
    result.batch = result.batch.drop_columns(private)
    return result


def conform(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """A batch of made documents with the columns (and types) of the stream they join: the
    columns earlier stages added are null for them."""
    n, names = batch.num_rows, batch.schema.names
    columns = [
        batch.column(f.name).cast(f.type) if f.name in names else pa.nulls(n, f.type)
        for f in schema
    ]
    return pa.RecordBatch.from_arrays(columns, schema=schema)


def _with_made(result: RowResult, made: RowResult) -> RowResult:
    """The stage's own rows, then the documents it made (``apply_stage``)."""
    rows = conform(made.batch, result.batch.schema)

    def joined(mine, theirs, kind):
        if mine is None and theirs is None:
            return None
        mine = mine if mine is not None else pa.nulls(result.batch.num_rows, kind)
        theirs = theirs if theirs is not None else pa.nulls(rows.num_rows, kind)
        return pa.concat_arrays([mine.cast(kind), theirs.cast(kind)])

    both = pa.Table.from_batches([result.batch, rows]).combine_chunks().to_batches()[0]
    return RowResult(
        both,
        reason=joined(result.reason, made.reason, pa.string()),
        duplicate_of=joined(result.duplicate_of, None, pa.string()),
        cluster_size=joined(result.cluster_size, None, pa.int64()),
        reference_source=joined(result.reference_source, None, pa.string()),
        detail=joined(result.detail, made.detail, pa.string()),
    )
