"""``sample``: a seeded uniform random sample, the baseline every selector must beat."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa

from winnow.stages.base import ExampleFiles, RunContext, ShardColumns, register
from winnow.stages.select.base import ScoreSelector, SelectParams


@register
class Sample(ScoreSelector):
    """Keep a seeded random ``keep_fraction`` / ``keep_top_k`` of the documents."""

    name = "sample"
    ParamsModel = SelectParams
    summary = "seeded uniform random sample (the baseline for selectors)"
    origin = "random selection baseline (DataComp, DCLM)"

    @classmethod
    def examples(cls, files: ExampleFiles) -> list[dict]:
        return [{"keep_fraction": 0.5}]

    def map(self, batch: pa.RecordBatch) -> dict[str, pa.Array]:
        return {}

    def reduce(self, shards: Sequence[ShardColumns], run: RunContext) -> list[pa.Table]:
        sizes = [load.rows for load in shards]
        score = np.random.Generator(np.random.PCG64(self.params.seed)).random(sum(sizes))
        return self.decisions(score, self.choose(score), sizes)
