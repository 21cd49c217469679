"""``portrait``: a Bloom-filter sketch of the documents that reach this stage (put it
last: the output), about 3% of their size, so that later one can ask "was this text in my
training data?" with ``winnow contains`` (Data Portraits, Marone & Van Durme 2023).

The sketch is written to the run's ``artifacts/`` folder as ``portrait.npz``
(``winnow.models.portrait``); no document is removed.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from winnow.models.portrait import Portrait, chunk_hashes, normalise
from winnow.stages.base import Params, RunContext, ShardColumns, SinkStage, register


class PortraitParams(Params):
    ngram: int = Field(50, ge=8)
    """Characters per stored chunk (Data Portraits: 50)."""
    ratio: float = Field(0.03, gt=0, le=1)
    """Size of the filter relative to the sketched text."""
    path: str | None = None
    """Where to write the sketch (default: the run's artifacts/ folder)."""


@register
class PortraitStage(SinkStage):
    """Write a Bloom filter of the documents' character n-grams; keep every document."""

    name = "portrait"
    ParamsModel = PortraitParams
    summary = "Bloom filter of 50-character chunks (~3% of the text) for winnow contains"
    origin = "Data Portraits (Marone & Van Durme 2023)"

    def map(self, batch: pa.RecordBatch) -> dict[str, pa.Array]:
        texts = pc.fill_null(batch.column("text"), "").to_pylist()
        keys = [chunk_hashes(t, self.params.ngram) for t in texts]
        lengths = np.fromiter(map(len, keys), np.int64, len(keys))
        offsets = pa.array(np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32))
        flat = np.concatenate(keys) if keys else np.zeros(0, np.uint64)
        chunks = pa.ListArray.from_arrays(offsets, pa.array(flat, pa.uint64()))
        chars = pa.array([len(normalise(t)) for t in texts], pa.int64())
        return {"chunks": chunks, "chars": chars}

    def finish(self, shards: Sequence[ShardColumns], run: RunContext) -> dict:
        p = self.params
        chunks = chars = 0
        for shard in shards:  # the filter's size, from the counts alone
            for batch in shard.batches(["chunks", "chars"]):
                chunks += pc.sum(pc.list_value_length(batch.column(0))).as_py() or 0
                chars += pc.sum(batch.column(1)).as_py() or 0
        portrait = Portrait.empty(chunks, chars, p.ngram, p.ratio)
        for shard in shards:
            for batch in shard.batches(["chunks"]):
                portrait.add(pc.list_flatten(batch.column(0)).to_numpy())
        if p.path is not None:
            portrait.save(p.path)
        elif run.artifacts is not None:
            portrait.save(run.artifacts / "portrait.npz")
        self.portrait = portrait  # for apply_stage callers
        return {"chunks": chunks, "chars": chars}
