"""``annotate``: a language model grades documents with a rubric and the score is kept as
an attribute, ``annotate_score`` (with the raw answer, ``annotate_answer``), for ``distil``
to learn from or a filter to use. Shipped rubrics: FineWeb-Edu's additive 0-5 educational
score (Penedo et al. 2024) and a subset of DataMan's criteria (Peng et al. 2025); or a
template file. ``sample: N`` grades only a seeded sample of N documents (the same for any
sharding and worker count), as FineWeb-Edu graded 450k of its documents."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import xxhash
from pydantic import Field

from winnow.llm.prompts import GRADERS, Template, failure_of, pick_template
from winnow.stages.base import (
    ExampleFiles,
    RowResult,
    RunContext,
    ShardColumns,
    put_column,
    register,
)
from winnow.stages.llm.requests import RequestParams, RequestStage, Target, example_llm

ANNOTATE_DECISIONS = pa.schema(
    [
        ("score", pa.float64()),
        ("answer", pa.large_string()),
        ("error", pa.string()),
        ("reason", pa.string()),
        ("detail", pa.string()),
    ]
)


class AnnotateParams(RequestParams):
    prompt: str = "fineweb_edu"
    """``fineweb_edu``, ``dataman``, or a template file (``.yaml``) with a ``score_pattern``."""
    sample: int | None = Field(None, ge=1)
    """Grade only this many documents, a seeded sample; the others get a null score."""
    seed: int = 0


def sample_keys(ids: pa.Array, seed: int) -> np.ndarray:
    """A seeded pseudo-random key per document id: the sample is the smallest keys."""
    return np.array(
        [
            xxhash.xxh3_64_intdigest(i.encode("utf-8", "surrogatepass"), seed)
            for i in ids.to_pylist()
        ],
        dtype=np.uint64,
    )


@register
class Annotate(RequestStage):
    """Grade documents with a language model and a rubric."""

    name = "annotate"
    ParamsModel = AnnotateParams
    decision_schema = ANNOTATE_DECISIONS
    makes = ("annotate_score",)
    summary = "a language model grades documents with a rubric: annotate_score, annotate_answer"
    origin = "FineWeb-Edu annotation (Penedo et al. 2024); DataMan (Peng et al. 2025)"

    @classmethod
    def examples(cls, files: ExampleFiles) -> list[dict]:
        return [{"llm": example_llm(files), "sample": 1, "max_requests": 1, "on_failure": "flag"}]

    def template(self) -> Template:
        template = pick_template(self.params.prompt, GRADERS)
        if template.score_pattern is None:
            raise ValueError(f"prompt {self.params.prompt!r}: the template has no score_pattern")
        return template

    def targets(self, shards: Sequence[ShardColumns], run: RunContext) -> list[Target]:
        if self.params.sample is None:
            return super().targets(shards, run)
        keys = [sample_keys(load(["id"]).column("id"), self.params.seed) for load in shards]
        every = np.concatenate(keys) if keys else np.zeros(0, np.uint64)
        k = min(self.params.sample, len(every))
        cut = np.partition(every, k - 1)[k - 1] if k else None
        out = []
        for load, key in zip(shards, keys):
            rows = np.nonzero(key <= cut)[0] if cut is not None else np.zeros(0, np.int64)
            out.append(Target(load.rows, ((load, rows),)))
        return out

    def decide(self, target: Target, docs: pa.Table, answers: list) -> pa.Table:
        template = self.template()
        n = target.shard_rows
        score = np.full(n, np.nan)
        answer: list = [None] * n
        reason: list = [None] * n
        detail: list = [None] * n
        ((_, rows),) = target.pieces
        for row, got in zip(rows.tolist(), answers):
            if got is None:
                continue
            failure = failure_of(got, needs_text=False)
            value = template.score(got["content"]) if failure is None else None
            answer[row] = got.get("content")
            if failure is None and value is None:
                failure = "llm_unparseable"
            if failure is None:
                score[row] = value
            else:
                reason[row], detail[row] = failure, got.get("failure")
        error: list = [None] * n
        if self.params.on_failure == "flag":  # kept: the reason (and detail) in a column
            error = [r if d is None else f"{r}:{d}" for r, d in zip(reason, detail)]
            reason = detail = [None] * n
        errors = pa.array(error, pa.string())
        return pa.table(
            [pa.array(score, mask=np.isnan(score)), pa.array(answer, pa.large_string()), errors,
             pa.array(reason, pa.string()), pa.array(detail, pa.string())],
            schema=ANNOTATE_DECISIONS,
        )  # fmt: skip

    def apply(self, batch: pa.RecordBatch, offset: int, decisions: pa.Table) -> RowResult:
        mine = decisions.slice(offset, batch.num_rows).combine_chunks()
        batch = put_column(batch, "annotate_score", mine.column("score").combine_chunks())
        batch = put_column(batch, "annotate_answer", mine.column("answer").combine_chunks())
        if self.params.on_failure == "flag":
            batch = put_column(batch, "annotate_error", mine.column("error").combine_chunks())
        return RowResult(
            batch,
            reason=mine.column("reason").combine_chunks(),
            detail=mine.column("detail").combine_chunks(),
        )
