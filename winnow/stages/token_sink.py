"""What the sinks of token ids share (``pack``, ``export``): the columns they keep, where
they write, whether every shard carries a loss mask, and the largest id (for the dtype)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from winnow.stages.base import RunContext, ShardColumns, SinkStage


class TokenSink(SinkStage):
    """A sink of each document's ``tokens`` (and ``loss_mask`` when there is one)."""

    needs = ("tokens",)

    def map(self, batch: pa.RecordBatch) -> dict[str, pa.Array]:
        if "tokens" not in batch.schema.names:
            raise ValueError(f"{self.name} needs a tokenize stage before it (no tokens column)")
        names = ["id", "tokens"] + (["loss_mask"] if "loss_mask" in batch.schema.names else [])
        return {n: batch.column(n) for n in names}

    def folder(self, run: RunContext) -> Path:
        """``path:`` if given, else the run's artifacts folder."""
        path = getattr(self.params, "path", None)
        folder = Path(path) if path is not None else run.artifacts
        if folder is None:
            raise ValueError(f"{self.name} outside a run needs path: (where to write)")
        return Path(folder)


def masked(shards: Sequence[ShardColumns]) -> bool:
    """Whether every shard's documents carry a ``loss_mask``."""
    return bool(shards) and all("loss_mask" in s.schema.names for s in shards)


def max_token(shards: Sequence[ShardColumns]) -> int:
    """The largest token id of every shard's ``tokens`` (0 if none), read batch by batch."""
    top = 0
    for shard in shards:
        for batch in shard.batches(["tokens"]):
            top = max(top, pc.max(pc.list_flatten(batch.column(0))).as_py() or 0)
    return top
